"""Native binaries: detection, safe stripping and verification of the stripped result.

It knows nothing about wheels or zip files: it works on one file (and its name, for messages), either as bytes
(:func:`strip_binary`) or on disk (:func:`strip_file`, for big libraries: the readers and the verification read
the file in pieces through a ``pread`` view, so a 400 MB library is never held in memory; only PE files, which
pefile parses in memory, are read whole). One module per format and per job:

* :mod:`.detect` -- :func:`detect_format` / :func:`describe` recognise ELF, PE and Mach-O files with the format
  readers :mod:`.elf`, :mod:`.pe` and :mod:`.macho` (bounds-checked, headers only); they never raise on garbage.
* :mod:`.tools` -- the external strip tools installed (:func:`find_strip_tools`) and running them; for ELF, the
  built-in streamed stripper :mod:`.elfstrip` (:data:`BUILTIN_ELF_STRIP`) is one of them.
* :mod:`.stripping` -- :func:`strip_binary` / :func:`strip_file` run the tools in order and **verify** every
  output (:func:`verify_stripped`: :mod:`.elfverify`, :mod:`.peverify`) before it is used. Anything doubtful keeps
  the original bytes:

  - Mach-O files and Authenticode-signed PE files are never modified;
  - a tool that fails, times out or produces a file that does not verify leaves the original in place
    (status ``REVERTED``), e.g. the patchelf + strip breakage "ELF load command address/offset not
    page-aligned" (auditwheel #716/#717, pypa/manylinux #119).

* :mod:`.debuginfo` -- debug symbols kept aside (:class:`DebugRequest` to :func:`strip_file`): the debug
  information and symbol table of an ELF file that is stripped, copied from the original with objcopy
  (:func:`find_objcopy_tools`) and named by its GNU build-id (:func:`build_id`); optionally a ``.gnu_debuglink``
  to it, added before verification.

Beneath them: :mod:`.reading` (the ``pread`` view and bounds-checked reads) and :mod:`.model` (levels, statuses and
the records returned). One reader per format: every ELF header is read by :mod:`.elf` (describe, realign, verify
and the stripper alike); PE headers by :mod:`.pe`, with pefile beside it in the verification only (its docstring
says why). This module is the public face; the rest of slimwheel imports from here only.
"""

from __future__ import annotations

from .debuginfo import build_id
from .detect import describe, detect_format
from .elf import realign_empty_loads
from .model import (
    BinaryFormat,
    BinaryInfo,
    DebugFile,
    DebugRequest,
    FileStripResult,
    StripLevel,
    StripResult,
    StripStatus,
    StripTools,
)
from .pe import pe_checksum
from .reading import FileView
from .stripping import strip_binary, strip_file, verify_stripped
from .tools import BUILTIN_ELF_STRIP, StripToolError, find_objcopy_tools, find_strip_tools

__all__ = [
    "BUILTIN_ELF_STRIP",
    "BinaryFormat",
    "BinaryInfo",
    "DebugFile",
    "DebugRequest",
    "FileStripResult",
    "FileView",
    "StripLevel",
    "StripResult",
    "StripStatus",
    "StripToolError",
    "StripTools",
    "build_id",
    "describe",
    "detect_format",
    "find_objcopy_tools",
    "find_strip_tools",
    "pe_checksum",
    "realign_empty_loads",
    "strip_binary",
    "strip_file",
    "verify_stripped",
]
