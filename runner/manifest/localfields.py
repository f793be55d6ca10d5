"""Local files in a job's input fields, replaced by LocalFiles (sent as data: URLs).

The single input fields (image_url, start_image, ...), the list ones
(reference_images, image_urls, video_urls, audio_urls) item by item, and the
images of each ``kling_elements`` entry. A value that is an http(s) or data: URL,
or of the wrong type (the field check reports that), is left as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.manifest.inputs import INPUT_FIELDS, InputProblem, LocalInputs, is_remote

if TYPE_CHECKING:
    from runner.manifest.jobspec import JobSpec
    from runner.manifest.problems import Path_, Report

# List fields whose items may be local files, with the field whose kind they share.
LIST_INPUTS = {
    "reference_images": "reference_images",
    "image_urls": "image_url",
    "video_urls": "video_url",
    "audio_urls": "audio_url",
}
_SINGLE = tuple(name for name in INPUT_FIELDS if name not in LIST_INPUTS)
_ORDER = (*_SINGLE, *LIST_INPUTS, "kling_elements")
_ALL = frozenset(_ORDER)
LOCAL_FIELDS = _ALL  # a job with none of these has no local file to resolve


class LocalFields:
    """Resolves the local files of jobs, reporting each problem where it is written."""

    def __init__(self, inputs: LocalInputs, report: Report) -> None:
        self.inputs = inputs
        self.report = report
        self.found = False

    def resolve(
        self, spec: JobSpec, values: dict[str, Any], sources: dict[str, int]
    ) -> bool | None:
        """Replace local paths in ``values``: whether there were any; None on a problem."""
        self.found, ok = False, True
        present = values.keys() & _ALL
        if not present:  # most jobs of a large manifest: no input field at all
            return False
        for name in _ORDER:
            value = values.get(name) if name in present else None
            if not value:
                continue
            where = spec.where(name, sources.get(name, -1))
            if name in LIST_INPUTS:
                resolved = self._items(LIST_INPUTS[name], value, where)
            elif name == "kling_elements":
                resolved = self._elements(value, where)
            else:
                resolved = self._one(name, value, where)
            ok = ok and resolved is not None
            values[name] = value if resolved is None else resolved
        return self.found if ok else None

    def _items(self, kind: str, value: Any, where: Path_) -> Any:
        if not isinstance(value, list):
            return value
        items = [self._one(kind, v, (*where, i)) for i, v in enumerate(value)]
        return None if None in items else items

    def _elements(self, value: Any, where: Path_) -> Any:
        if not isinstance(value, list):
            return value
        elements: list[Any] = []
        for i, element in enumerate(value):
            urls = element.get("element_input_urls") if isinstance(element, dict) else None
            if not isinstance(urls, list):
                elements.append(element)
                continue
            items = self._items("image_url", urls, (*where, i, "element_input_urls"))
            if items is None:
                return None
            elements.append({**element, "element_input_urls": items})
        return elements

    def _one(self, kind: str, value: Any, where: Path_) -> Any:
        """``value`` itself when it is a URL, else its LocalFile; None on a problem."""
        if not isinstance(value, str) or is_remote(value):
            return value
        try:
            local = self.inputs.resolve(kind, value)
        except InputProblem as problem:
            self.report.add(where, str(problem))
            return None
        self.found = True
        return local
