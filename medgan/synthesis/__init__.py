"""From a trained run folder to new cases: lesion sampling and insertion into scans."""
