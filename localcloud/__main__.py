"""``make demo``. Every LOCALCLOUD_* setting is checked before the local cloud is imported or started."""

import sys

from localcloud import settings

try:
    settings.load()
except settings.SettingError as error:
    sys.exit(f"localcloud: {error}")

from localcloud.main import main

main()
