"""``python -m fortifai.recursive``: ``fortifai recursive``, also the entry point of ``torchrun -m fortifai.recursive``."""

def main(argv: list[str] | None = None) -> int:
    """``python -m fortifai.recursive -f PRESET.yaml [-p KEY VALUE]... [-o RUN_DIR]``: ``fortifai recursive``, also
    the entry point of ``torchrun --nproc_per_node N -m fortifai.recursive ...``."""
    from ..cli import recursive_main

    return recursive_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
