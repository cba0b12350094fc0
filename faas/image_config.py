"""An image function's image reference and ``ImageConfig`` (what its container runs,
overriding the image's own), with Lambda's limits."""

from __future__ import annotations

import re
from dataclasses import dataclass

from faas.errors import ValidationFailed
from faas.text import is_text

# A local image's reference as Docker names it: [host[:port]/]path[:tag][@digest], or an id.
IMAGE_PATTERN = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
    r"|^(?:sha256:)?[0-9a-f]{12,64}$"
)
IMAGE_MAX = 512
# Lambda's ImageConfig limits: 1500 entry point or command items, a 1000-character directory.
IMAGE_ITEMS_MAX = 1500
WORKDIR_MAX = 1000


@dataclass(frozen=True)
class ImageConfig:
    """What an image function's container runs, overriding the image's own (Lambda's
    ``ImageConfig``); None keeps the image's ``ENTRYPOINT``, ``CMD`` or ``WORKDIR``."""

    entry_point: tuple[str, ...] | None = None
    command: tuple[str, ...] | None = None
    working_directory: str | None = None

    @property
    def empty(self) -> bool:
        return self.entry_point is None and self.command is None and not self.working_directory

    @classmethod
    def from_dict(cls, data: object) -> ImageConfig:
        """Parse the API's and the store's shape; raises ``ValidationFailed``."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValidationFailed("image_config must be a JSON object", field="image_config")
        unknown = sorted(set(data) - {"entry_point", "command", "working_directory"})
        if unknown:
            raise ValidationFailed(
                f"image_config has no field {unknown[0]!r}", field="image_config"
            )
        lists = {}
        for key in ("entry_point", "command"):
            value = data.get(key)
            if value is not None and not isinstance(value, list | tuple):
                raise ValidationFailed(
                    f"image_config.{key} must be a list of strings", field="image_config"
                )
            lists[key] = tuple(value) if value else None
        return validate_image_config(
            cls(working_directory=data.get("working_directory") or None, **lists)
        )


def validate_image(image: object) -> str:
    if (
        not isinstance(image, str)
        or not image
        or len(image) > IMAGE_MAX
        or not IMAGE_PATTERN.fullmatch(image)
    ):
        raise ValidationFailed(
            "image must name a local container image, such as my-function:latest",
            field="image",
        )
    return image


def validate_image_config(config: ImageConfig) -> ImageConfig:
    for key in ("entry_point", "command"):
        items = getattr(config, key)
        if items is None:
            continue
        if len(items) > IMAGE_ITEMS_MAX or not all(
            isinstance(item, str) and is_text(item) and "\x00" not in item for item in items
        ):
            raise ValidationFailed(
                f"image_config.{key} must be a list of at most {IMAGE_ITEMS_MAX} strings "
                "(no NUL characters)",
                field="image_config",
            )
    workdir = config.working_directory
    if workdir is not None and (
        not isinstance(workdir, str)
        or not workdir.startswith("/")
        or len(workdir) > WORKDIR_MAX
        or not is_text(workdir)
        or "\x00" in workdir
    ):
        raise ValidationFailed(
            f"image_config.working_directory must be an absolute path of at most "
            f"{WORKDIR_MAX} characters",
            field="image_config",
        )
    return config
