"""The GUI server's guards without a server: paths confined to the root, the token rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ferrotem.gui.launch import choose_token, server_url
from ferrotem.gui.security import PathOutsideRoot, resolve_in_root, token_matches


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/ with a file, a subdirectory, a link inside and links pointing out; a secret
    next to root."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.raw").write_bytes(b"x")
    (tmp_path / "secret.txt").write_text("do not read")
    os.symlink(root / "sub" / "a.raw", root / "inside_link")
    os.symlink(tmp_path / "secret.txt", root / "out_file_link")
    os.symlink(tmp_path, root / "out_dir_link")
    return root.resolve()


def test_paths_inside_the_root_resolve(tree: Path) -> None:
    assert resolve_in_root(tree, "") == tree
    assert resolve_in_root(tree, "sub/a.raw") == tree / "sub" / "a.raw"
    assert resolve_in_root(tree, "sub/../sub/a.raw") == tree / "sub" / "a.raw"
    assert resolve_in_root(tree, "inside_link") == tree / "sub" / "a.raw"


@pytest.mark.parametrize(
    "hostile",
    [
        "..",
        "../secret.txt",
        "sub/../../secret.txt",
        "sub/../../root/../secret.txt",
        "out_file_link",
        "out_dir_link/secret.txt",
        "/etc/passwd",
        "//etc/passwd",
        "\\etc\\passwd",
        "sub/\x00a.raw",
    ],
)
def test_paths_leaving_the_root_are_refused(tree: Path, hostile: str) -> None:
    with pytest.raises(PathOutsideRoot):
        resolve_in_root(tree, hostile)


@pytest.mark.parametrize("not_a_string", [None, 3, ["sub"], {"p": 1}])
def test_non_string_paths_are_refused(tree: Path, not_a_string: object) -> None:
    with pytest.raises(PathOutsideRoot, match="path"):
        resolve_in_root(tree, not_a_string)  # type: ignore[arg-type]


def test_token_comparison() -> None:
    assert token_matches("abc", "abc")
    assert not token_matches("abc", "abd")
    assert not token_matches("abc", None)
    assert not token_matches("abc", "")
    assert token_matches(None, None)  # --insecure: no token checked


def test_token_rules(tmp_path: Path) -> None:
    # loopback: a fresh random token each time
    a, b = choose_token("127.0.0.1", None, False), choose_token("localhost", None, False)
    assert a and b and a != b and len(a) >= 40
    # a public interface without a token file refuses, unless --insecure
    for host in ("0.0.0.0", "192.168.1.5", "::"):
        with pytest.raises(ValueError, match="--token-path"):
            choose_token(host, None, False)
        assert choose_token(host, None, True) is None
    path = tmp_path / "token"
    path.write_text("  s3cret\n")
    assert choose_token("0.0.0.0", str(path), False) == "s3cret"
    path.write_text("\n")
    with pytest.raises(ValueError, match="no token"):
        choose_token("0.0.0.0", str(path), False)


def test_url_carries_token_and_file() -> None:
    url = server_url("127.0.0.1", 9000, "a+b", "dir/x y.mib")
    assert url == "http://127.0.0.1:9000/?token=a%2Bb#open=dir/x%20y.mib"
    assert server_url("0.0.0.0", 1, None) == "http://127.0.0.1:1/"
