"""PROVENANCE.md of a simulated data folder (the shipped ``sample_data/`` or a ``medgan sample-data`` cohort)."""

from __future__ import annotations

import hashlib
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import scipy

from medgan.sample_data.files import write_text
from medgan.sample_data.geometry import (
    BRAIN_CENTRE,
    CT_NOISE_HU,
    FIELD_BOX,
    GZIP_LEVEL,
    HEALTHY_ID_OFFSET,
    ICBM152_NOTICE,
    LESION_CLASSES,
    MR_CONTRASTS,
    MR_MEANS,
    MR_NOISE,
    MR_WM_LEVEL,
    SHAPE_2D,
    SHAPE_3D,
    SPACING_2D,
    SPACING_3D,
    TISSUES,
    grid_affine_3d,
)
from medgan.sample_data.subjects import CaseRecord

LESIONS_2D = """- `lesions2d/`: {n} axial T1c-like slices (`images/`, int16) with masks (`labels/`,
  uint8) of the same name, {h}x{w} pixels of {spacing} mm, each a 2D NIfTI
  whose 4x4 affine carries the slice height. Each slice holds one or two lesions of one class
  and the label value is that class ({classes};
  {per_class}). `classes.csv` (`name, class_id, class_name`) and `class_names.json` map them.
"""

LARGER = """
## Larger cohorts
`medgan sample-data --cases N --out DIR [--seed S]` runs this simulation for any number of cases
(20 % healthy by default), reading the exact 2 mm copy of the templates that medgan ships instead
of nilearn; subject `i` depends only on `(seed, kind, i)`, so `--seed 0` reproduces these cases as
the first members of a larger cohort and any other seed gives new subjects. See docs/data.md.
"""

LICENCE_TEXT = ("The simulated data in this folder derives from the MNI ICBM152 2009a non-linear symmetric\n"
                "template, distributed under the following notice.\n\n" + ICBM152_NOTICE)


def per_class_text(slices: Sequence[tuple[str, int, int]]) -> str:
    """``"32 cyst, 32 metastasis, 32 haemangioma"`` for the slices written."""
    return ", ".join(f"{sum(1 for s in slices if s[1] == cid)} {name}" for cid, name in LESION_CLASSES.items())


def provenance_text(command: str, cases: Sequence[CaseRecord], slices: Sequence[tuple[str, int, int]],
                    cohort: bool = False) -> str:
    """Render PROVENANCE.md from the command line, the constants and the generated cases.

    Args:
        command: the command line that regenerates the folder.
        cases: the 3D cases written, in order.
        slices: ``(name, class_id, seed)`` of the 2D slices written.
        cohort: ``True`` for a ``medgan sample-data`` folder, ``False`` for the shipped ``sample_data/``.
    """
    healthy = [c.case_id for c in cases if c.healthy]
    listed = ", ".join(healthy) if len(healthy) <= 24 else f"{len(healthy)} cases, `healthy` = True in `cases.csv`"
    maker = ("`medgan sample-data`, the simulation of medgan's shipped sample data,"
             if cohort else "`scripts/make_sample_data.py`")
    source = ("the constants in medgan and the exact 2 mm copy of the ICBM152 maps that medgan ships\n"
              "(`medgan/sample_data/icbm152_2mm.nii.gz`); nothing is downloaded and nilearn is not needed"
              if cohort else "the\nconstants in the script and the ICBM152 files in nilearn's wheel; "
              "nothing is downloaded")
    checked = ("`medgan sample-data` with the same options rewrites the same bytes and resumes an interrupted run."
               if cohort else "`tests/test_sample_data.py` checks it and regenerates a subset.")
    slices_text = "" if not slices else LESIONS_2D.format(
        n=len(slices), h=SHAPE_2D[0], w=SHAPE_2D[1], spacing=SPACING_2D, per_class=per_class_text(slices),
        classes=", ".join(f"{k} = {v}" for k, v in LESION_CLASSES.items()))
    larger = "" if cohort else LARGER
    n_tumour = len(cases) - len(healthy)
    origin = ", ".join(f"{v:.2f}" for v in grid_affine_3d()[:3, 3])
    shape = "x".join(str(n) for n in SHAPE_3D)
    header = " | ".join(TISSUES)
    rule = " | ".join("---" for _ in TISSUES)
    mr_rows = "\n".join(f"| {c} | " + " | ".join(f"{v:.2f}" for v in MR_MEANS[c]) + " |" for c in MR_CONTRASTS)
    notice = ICBM152_NOTICE.strip()
    return f"""# medgan sample data: provenance

**THIS DATA IS SIMULATED.** No image here comes from a patient. Every volume and slice was
computed by {maker} from the MNI ICBM152 2009a non-linear symmetric
templates (an average of 152 healthy adult brains) with random deformations, synthetic
intensities, synthetic noise and synthetic lesions.

## What it can and cannot show
It **can** show that medgan's code paths (reading BraTS-style case folders and plain
image/label folders, augmentation, GAN training and synthesis, MR-to-CT translation,
segmentation and detection benchmarks, reports) run end to end on data with realistic brain
anatomy, sizes, orientations, dtypes and label conventions; and it can show *relative* effects
between augmentation arms **on this simulated task**.

It **cannot** show clinical performance, behaviour under real scanner noise, artefacts, contrast
or pathology, or anything about real patients. Tumours and lesions are smooth random blobs with
hand-chosen intensities, and the CT is computed from the same tissue maps as the MR, so the
MR-to-CT mapping is far easier here than in reality. Numbers measured on this data are not
evidence of medical usefulness.

## Regenerate bit for bit
```
{command}
```
(`--preview` additionally draws `preview.png`.) The output depends only on the seed, {source}. This
copy was generated with Python {sys.version.split()[0]}, numpy {np.__version__}, scipy
{scipy.__version__}, nibabel {nib.__version__} and zlib {zlib.ZLIB_RUNTIME_VERSION}; files are
gzip level {GZIP_LEVEL} with mtime 0 and no file name. Another zlib build may compress to other
`.nii.gz` bytes while the NIfTI bytes inside stay identical. `SHA256SUMS` holds the sha256 of
every file here except `preview.png` (a rendering, not data) and itself;
{checked}
{larger}
## Contents
- `brats/`: {n_tumour} tumour cases and {len(healthy)} healthy cases in the BraTS 2023 layout,
  `brats/<case>/<case>-{{t1n,t1c,t2w,t2f,ct,seg}}.nii.gz`, listed in `brats/cases.csv`
  (`case_id, healthy, tumour_voxels, seed`).
  **Healthy cases** (segmentation all zero): {listed if healthy else "none"}.
  - Grid: {shape} voxels of {SPACING_3D} mm, isotropic, RAS+ (affine diag({SPACING_3D}, {SPACING_3D},
    {SPACING_3D}), origin ({origin}) mm, sform and qform code 1), the same for every case, as
    after co-registration to a common atlas.
  - `t1n` T1, `t1c` T1 after contrast, `t2w` T2, `t2f` FLAIR: int16 >= 0, whole head (not
    skull-stripped), 0 outside the head. `ct`: int16 Hounsfield units, -1000 outside the head.
    `seg`: uint8, BraTS 2023 labels 0 background, 1 necrotic core, 2 oedema, 3 enhancing tumour.
{slices_text}- `LICENSE-ICBM152.txt`: the copyright notice of the templates, which this data derives from.

## How it was made
1. **Templates.** `mni_icbm152_{{t1,gm,wm}}_tal_nlin_sym_09a_converted.nii.gz` from
   `nilearn/datasets/data/` (shipped in the nilearn wheel). Brain = T1 > 0 (that template is
   brain-extracted); GM and WM probabilities capped by it; CSF = brain - GM - WM. The maps are
   block-averaged from 1 mm to 2 mm and padded by 24 mm (below, by repeating the lowest slice so
   the brainstem runs out of the field of view). A hull of the brain (closing by 10 mm, holes
   filled) gives a signed distance map (mm, smoothed by one voxel) from which each subject's
   CSF rim, skull and scalp are cut. `medgan sample-data` rebuilds the same 2 mm maps, bit for
   bit, from `medgan/sample_data/icbm152_2mm.nii.gz` (block sums and float32 rounding), made from
   these files by `python scripts/make_sample_data.py --atlas`.
2. **Seeds.** Subject `i` of kind `k` (0 tumour case, 1 healthy case, 2 2D lesion slice) draws
   everything from `numpy.random.default_rng(s)`, `s = SeedSequence([seed, k, i]).generate_state(1,
   uint64)[0] >> 1` (the `seed` column of `cases.csv`), in this order: anatomy, tumour or
   lesions, contrasts, CT. No global random state; any one subject can be regenerated alone.
   Tumour cases are `BraTS-SIM-{{i:05d}}-000`, healthy cases `BraTS-SIM-{{{HEALTHY_ID_OFFSET} + i:05d}}-000`,
   slices `lesion-{{i:04d}}`.
3. **Anatomy.** Output voxel centres are mapped into template space by a random affine about
   ({", ".join(f"{v:.0f}" for v in BRAIN_CENTRE)}) mm (scale 1 +- 0.08 per axis, rotation +- 5 deg per
   axis, shift +- 3 mm) plus a smooth displacement (cubic B-spline through 7x7x7 control points
   over [{FIELD_BOX[0]:.0f}, {FIELD_BOX[1]:.0f}] mm per axis, standard deviation 2-4.5 mm), and the maps are
   sampled there (trilinear). Beyond the hull: CSF rim 1.5-3 mm, skull 4.5-7 mm and scalp 4-7 mm
   thick, each varying smoothly by about +- 1 mm (5x5x5 control points; skull clipped to 3.5-9
   mm), with one-voxel partial-volume ramps. A 3 % multiplicative texture (17x17x17 control
   points) varies tissue signal.
4. **Tumours** (tumour cases). Centre drawn among voxels with WM fraction > 0.6, at least 18 mm
   inside the hull, |x| > 14 mm in a random hemisphere, z > -20 mm. Enhancing-tumour radius
   9-17 mm, necrotic core 45-70 % of it, oedema margin 6-18 mm, random ellipsoid (axes x0.8-1.25)
   and orientation. Tumour = largest piece of `d (1 + 0.22 n1) < R` (d: ellipsoidal distance,
   n1: unit white noise smoothed with sigma 1.2 voxels), necrosis = `d (1 + 0.22 n1) <
   ratio R` inside it (so nested by construction), oedema = the pieces touching the tumour of
   `d + 4 mm n2 - 8 mm (WM - 0.5) < R + margin` where GM + WM > 0.45 (n2: sigma 1.6 voxels), plus
   one voxel around the tumour; all inside the intracranial space. Labels: oedema 2, then
   enhancing 3, then necrosis 1. Mass effect: tissue at distance r from the centre is pushed
   outwards by a r exp(-r^2 / 2 w^2), a 0.1-0.3, w = R + margin (at most 0.6 a w). Redrawn until
   it has at least 4 necrotic, 8 enhancing and 20 oedema voxels. Label fractions smoothed with
   sigma 0.6 voxel give partial volume in the images.
5. **MR.** Signal = level x sum over tissues(fraction x mean) x texture x bias; means relative to
   WM on T1:

| contrast | {header} |
| --- | {rule} |
{mr_rows}

   Each mean is jittered by +- 5 % per case and contrast; level {MR_WM_LEVEL[0]:.0f}-{MR_WM_LEVEL[1]:.0f}
   (stored units); bias = exp(a f), a 0.08-0.2, f a cubic B-spline through 4x4x4 unit normal
   controls; Rician noise = magnitude of (signal + complex Gaussian noise), sigma
   {MR_NOISE[0]:.0%}-{MR_NOISE[1]:.0%} of the level; rounded to int16; 0 outside the head dilated by
   one voxel (masked like registered public data sets, and it keeps the files small).
6. **CT.** HU: air -1000, scalp 40, skull 800-1100 (+- 120 smooth variation, clipped 650-1300),
   CSF 10, GM 40, WM 28, necrosis 35, enhancing 45, oedema 20, mixed by tissue fraction; Gaussian
   noise sigma {CT_NOISE_HU[0]:.0f}-{CT_NOISE_HU[1]:.0f} HU; clipped to [-1024, 3071]; int16; -1000 outside the head.
7. **2D lesions.** A new simulated head per slice (steps 3 and 5) sampled on an axial plane at
   z = 0-45 mm; class = 1 + (i mod 3). One lesion (60 %) or two of that class, centred where GM +
   WM > 0.8 and at least 14 mm inside the hull, at least 6 mm apart. Cyst: ellipse of radius
   6-12 mm, sharp edge, CSF-like (0.2 of WM: dark on T1c). Metastasis: radius 6-10 mm, dark
   centre (0.4) in a bright 2.5-3.5 mm enhancing ring (1.7), in a 3-7 mm oedema halo (0.8,
   unlabelled). Haemangioma: union of 3-5 discs of radius 4-7.5 mm within 5 mm, bright (1.45),
   blurred with sigma 0.9-1.5 pixel. Label = class value where the lesion fraction >= 0.5,
   inside the brain. Rendered with the T1c means, bias and Rician noise of step 5.

## ICBM152 copyright notice
The anatomy derives from the MNI ICBM152 2009a non-linear symmetric template:

{notice}

References: Fonov V. S., Evans A. C., McKinstry R. C., Almli C. R., Collins D. L. Unbiased
nonlinear average age-appropriate brain templates from birth to adulthood. NeuroImage 47
(Suppl. 1), S102 (2009). Fonov V., Evans A. C., Botteron K., Almli C. R., McKinstry R. C.,
Collins D. L. Unbiased average age-appropriate atlases for pediatric studies. NeuroImage 54(1),
313-327 (2011). Collins D. L., Zijdenbos A. P., Baare W. F. C., Evans A. C. ANIMAL+INSECT:
improved cortical structure segmentation. IPMI 1999, LNCS 1613, 210-223.
"""



def write_sha256sums(out: Path) -> None:
    """Write ``SHA256SUMS`` (``sha256sum`` format, sorted relative paths) for every data file."""
    lines = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out).as_posix()
        if rel in ("SHA256SUMS", "preview.png") or path.name.startswith("."):
            continue
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {rel}")
    write_text(out / "SHA256SUMS", "\n".join(lines) + "\n")


