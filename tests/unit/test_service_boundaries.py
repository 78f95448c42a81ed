"""Services never import each other: each one talks to the others over the bus only, and
what they share (events, the pricing table, providers) lives in `shared/`."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"


def _services() -> list[str]:
    return sorted(p.name for p in SERVICES.iterdir() if (p / "__init__.py").is_file())


def _imported_modules(source: str, package: str) -> list[tuple[int, str]]:
    """Every module a file of `package` imports (absolute names; a relative import is
    resolved), with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # `from services import billing` names the service in the alias.
            if module == "services":
                found.extend((node.lineno, f"services.{a.name}") for a in node.names)
    return found


def _violations() -> list[str]:
    problems: list[str] = []
    for service in _services():
        for path in sorted((SERVICES / service).rglob("*.py")):
            package = ".".join(path.relative_to(SERVICES.parent).parts[:-1])
            for line, module in _imported_modules(path.read_text(encoding="utf-8"), package):
                parts = module.split(".")
                if len(parts) >= 2 and parts[0] == "services" and parts[1] != service:
                    where = path.relative_to(SERVICES.parent)
                    problems.append(f"{where}:{line} imports {module}")
    return problems


def test_the_services_are_found() -> None:
    assert {"assets", "billing", "gateway", "renderer", "storyboard"} <= set(_services())


def test_no_service_imports_another() -> None:
    assert _violations() == []


def test_the_check_sees_every_form_of_import() -> None:
    source = (
        "from services.billing.pricing import quote\n"
        "import services.assets.store\n"
        "from services import renderer\n"
        "from ..storyboard import keys\n"
        "from . import metrics\n"
        "if TYPE_CHECKING:\n"
        "    from services.gateway.app import App\n"
    )
    modules = sorted(m for _, m in _imported_modules(source, "services.billing"))
    assert modules == [
        "services",
        "services.assets.store",
        "services.billing",
        "services.billing.pricing",
        "services.gateway.app",
        "services.renderer",
        "services.storyboard",
    ]
