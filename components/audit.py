"""Optional audit trail in the primary region: a multi-region CloudTrail trail (pulumi-awsx)."""

from __future__ import annotations

import pulumi
import pulumi_awsx as awsx


class Audit(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("active-active:audit:Audit", name, None, opts)
        self.trail = awsx.cloudtrail.Trail(
            f"{name}-trail",
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
