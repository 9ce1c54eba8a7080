"""The lake tests read the views' SQL through the CDK app's `kilowatch_cdk.datalake.views`."""

from __future__ import annotations

import sys
from pathlib import Path

CDK_DIR = Path(__file__).resolve().parents[2] / "cdk"
if str(CDK_DIR) not in sys.path:
    sys.path.insert(0, str(CDK_DIR))
