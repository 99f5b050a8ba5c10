"""Statistical confidentiality for published tables (secret statistique).

Primary suppression: a cell whose count is below ``threshold`` (default 11, but greater than 0)
is masked, and so is every figure derived from it. Secondary suppression: where a row or a
column of a table shows a total, a single masked cell could be recovered by subtraction, so the
smallest other visible cell of that row or column is masked too; repeated until stable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_THRESHOLD = 11
RULE = (
    "Secret statistique : les effectifs inférieurs à {threshold} et les chiffres qui en découlent sont "
    "masqués ; quand un total permettrait de retrouver une case masquée, une seconde case l'est aussi."
)


def primary_mask(
    counts: pd.Series | pd.DataFrame, threshold: int = DEFAULT_THRESHOLD
) -> pd.Series | pd.DataFrame:
    """Cells below the threshold (and above zero): a zero reveals nobody."""
    return (counts > 0) & (counts < threshold)


def suppress_table(counts: pd.DataFrame, threshold: int = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """The mask of a two-way table with row and column totals: primary, then secondary suppression."""
    values = counts.to_numpy(dtype=float)
    present = ~np.isnan(values)
    mask = present & (values > 0) & (values < threshold)
    changed = True
    while changed:
        changed = False
        for axis in (0, 1):
            lines = mask.T if axis == 0 else mask
            shown = present.T if axis == 0 else present
            data = values.T if axis == 0 else values
            for i in range(lines.shape[0]):
                if lines[i].sum() == 1:
                    candidates = np.where(shown[i] & ~lines[i])[0]
                    if len(candidates):
                        j = candidates[np.argmin(data[i][candidates])]
                        if axis == 0:
                            mask[j, i] = True
                        else:
                            mask[i, j] = True
                        changed = True
    return pd.DataFrame(mask, index=counts.index, columns=counts.columns)
