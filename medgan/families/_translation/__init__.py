"""What the translation families (``cyclegan``, ``pix2pix``) share: domain configs, volume loading
and patch sampling, the image pool, and loading a trained run as a translator. Private to the
families (the leading underscore keeps :func:`medgan.families.discover` from treating it as one).
"""
