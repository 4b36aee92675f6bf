"""`temcoco evaluate` on real M3SVD frames, with clean references."""

import json
import shutil
import subprocess
import sys

from temcoco.model.registry import load_method
from temcoco.pipeline import fuse_pair
from temcoco.storage.results import METRIC_COLUMNS


def test_evaluate_json_has_every_metric_column(m3svd, tmp_path):
    seq = "0111_1716"
    folders = {}
    for name in ("infrared_noise", "visible_Blur", "infrared_Enhance", "visible_Enhance"):
        folders[name] = tmp_path / name
        folders[name].mkdir()
        for frame in sorted((m3svd / name / seq).iterdir())[:4]:
            shutil.copy(frame, folders[name])
    fused = tmp_path / "fused.mp4"
    fuse_pair(str(folders["infrared_noise"]), str(folders["visible_Blur"]), str(fused), load_method("laplacian"))
    p = subprocess.run([sys.executable, "-m", "temcoco.cli", "evaluate", "--ir", str(folders["infrared_noise"]),
                        "--vi", str(folders["visible_Blur"]), "--fused", str(fused),
                        "--ref-ir", str(folders["infrared_Enhance"]), "--ref-vi", str(folders["visible_Enhance"]),
                        "--json"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    assert set(METRIC_COLUMNS) <= set(result)
    # null only where nothing can be measured: feaCD has no ResNet-18 weights here, flowD_seam no chunk seams
    assert set(METRIC_COLUMNS) - {"feaCD", "flowD_seam"} <= {k for k, v in result.items() if v is not None}
    assert result["frames"] == 4 and result["flow_method"] == "dis"
    assert 0 < result["SSIM"] < 2 and result["ref_PSNR"] > 10 and result["flowD"] > 0
