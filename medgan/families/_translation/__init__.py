"""What the translation families (``cyclegan``, ``pix2pix``) share: domain configs, volume loading
and patch sampling, the image pool, the translator of a trained run and the benchmark sampler. Private to the
families (the leading underscore keeps the registry from treating it as one).
"""
