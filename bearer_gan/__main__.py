"""``python -m bearer_gan``: the ``bearer-gan`` command (train, sample, evaluate)."""
from .cli.main import main

if __name__ == '__main__':
    main()
