"""report.html, the comparison page, ``bearer-gan report`` and ``--eval-interval``'s files, on tiny real runs.

The pages are opened in a real browser (Debian's headless ``chromium``): every image a page shows
must load from disk, and a page moved away from its run folder must say which images it cannot show.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
import torch

from bearer_gan.callbacks import load_generator
from bearer_gan.cli.main import main as cli_main
from bearer_gan.cli.train import main as train_main
from bearer_gan.evaluation import callback as evaluation_callback
from bearer_gan.evaluation.callback import FidEvaluator, read_eval_history
from bearer_gan import keys
from bearer_gan.models import build_from_spec, model_spec
from bearer_gan.report.compare import compare_runs, differences, same_noise_grid
from bearer_gan.report.facts import read_run
from bearer_gan.report.page import REPORT, ReportPage, write_report
import torchbearer
from conftest import require

TINY = ['--dataset', 'mnist-5k', '--steps', '40', '--batch-size', '16', '--sample-interval', '20',
        '--checkpoint-interval', '20', '--device', 'cpu', '--quiet']


def train_tiny(out: Path, *flags: str) -> Path:
    train_main(TINY + list(flags) + ['--out', str(out)])
    return out


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    """A 40-step MNIST run scored every 20 steps, evaluated at the end: every file a page can show."""
    return train_tiny(tmp_path_factory.mktemp('report') / 'run', '--eval-interval', '20')


def page_images(page: str):
    return re.findall(r'<img[^>]* src="([^"]+)"', page)


def test_training_writes_the_page_with_every_section(run):
    page = (run / REPORT).read_text()
    for anchor in ('samples', 'curves', 'evaluation', 'config'):
        assert f'<section id="{anchor}">' in page
    scores = json.loads((run / 'eval.json').read_text())
    assert f'FID {scores["fid"]:.1f}' in page  # written again after the evaluation, with its scores
    sources = page_images(page)
    files = [source for source in sources if not source.startswith('data:')]
    assert set(files) == {'progress.gif', 'samples/step_000040.png', 'real.png', 'fid.png'}
    assert all((run / source).is_file() for source in files)  # relative to the folder, so it can be zipped
    assert sum(source.startswith('data:image/svg+xml;base64,') for source in sources) == 1  # the loss chart
    assert len(re.findall(r'class="bar"', page)) == 10  # a bar per digit
    assert json.loads((run / 'config.json').read_text())['data']['sha256'] in page  # the data's provenance


def test_eval_interval_keeps_the_scores_and_the_best_generator(run):
    rows = read_eval_history(str(run / 'eval_history.csv'))
    assert [row['step'] for row in rows] == [20, 40]
    assert all(row['fid'] > 0 for row in rows)
    assert json.loads((run / 'config.json').read_text())['eval_interval'] == 20
    best, _ = load_generator(str(run), filename='generator.best.pt')
    assert sum(parameter.numel() for parameter in best.parameters()) > 0


def test_the_best_generator_is_the_one_at_the_lowest_fid(tmp_path, monkeypatch):
    spec = model_spec('tutorial', 8, (1, 28, 28))
    generator = build_from_spec(spec)[0]
    fids = iter([5.0, 3.0, 4.0])
    monkeypatch.setattr(evaluation_callback, 'evaluate_generator', lambda *args, **kwargs: {'fid': next(fids)})
    evaluator = FidEvaluator(interval=1, scorer='unused', out_dir=str(tmp_path), spec=spec)
    evaluator.scorer = object()  # already built: never loaded
    state = {torchbearer.MODEL: generator, keys.LATENT_DIM: 8, torchbearer.DEVICE: 'cpu'}
    weights = []
    for step in (1, 2, 3):
        with torch.no_grad():
            next(generator.parameters()).fill_(float(step))
        weights.append(next(generator.parameters()).clone())
        evaluator.score(state, step)
    best, _ = load_generator(str(tmp_path), filename='generator.best.pt')
    assert torch.equal(next(best.parameters()), weights[1])  # step 2 had the lowest FID
    assert [row['fid'] for row in read_eval_history(str(tmp_path / 'eval_history.csv'))] == [5.0, 3.0, 4.0]
    assert (tmp_path / 'fid.png').stat().st_size > 0


def test_the_page_is_written_at_each_interval_and_at_the_end(tmp_path, monkeypatch):
    written = []
    monkeypatch.setattr('bearer_gan.report.page.write_report', lambda out: written.append(out))
    page = ReportPage(str(tmp_path), interval=20)
    for step in range(1, 46):
        page.on_step_training({keys.STEP: step})
    page.on_end({})
    assert len(written) == 3  # steps 20 and 40, then the end


def test_a_folder_with_little_in_it_still_gets_a_page(tmp_path):
    (tmp_path / 'config.json').write_text(json.dumps({'dataset': '<script>alert(1)</script>', 'steps': 10}))
    page = Path(write_report(str(tmp_path))).read_text()
    assert 'No samples yet.' in page
    assert '<script>alert(1)' not in page and '&lt;script&gt;alert(1)' in page  # a folder's text is escaped
    assert '<section id="curves">' not in page and '<section id="evaluation">' not in page


def test_a_federation_page_shows_rounds_and_owners(tmp_path):
    (tmp_path / 'config.json').write_text(json.dumps({'dataset': 'mnist', 'rounds': 3, 'owners': 2}))
    columns = 'round,steps,fid,classes_covered,ema_fid,ema_classes_covered,g_loss,d_loss'
    rows = ['0,0,400.0,3,400.0,3,,', '1,10,300.0,5,350.0,4,0.9,0.6']
    (tmp_path / 'history.csv').write_text('\n'.join([columns] + rows) + '\n')
    owners = [{'owner': 0, 'images': 300, 'class_counts': [300, 0]},
              {'owner': 1, 'images': 100, 'class_counts': [0, 100]}]
    (tmp_path / 'owners.json').write_text(json.dumps({'split': 'classes-per-owner 1', 'owners': owners}))
    facts = read_run(str(tmp_path))
    assert facts.federated and facts.progress == 1 and facts.planned == 3
    page = Path(write_report(str(tmp_path))).read_text()
    assert 'round 1 of 3' in page
    assert '<section id="owners">' in page and '75.0%' in page and '25.0%' in page
    assert '0: 300' in page and '1: 100' in page
    assert any(source.startswith('data:image/svg+xml') for source in page_images(page))  # the per-round chart


def test_compare_draws_every_run_on_the_same_noise(run, tmp_path):
    twin = tmp_path / 'twin'
    shutil.copytree(run, twin)
    assert same_noise_grid(str(run)) == same_noise_grid(str(twin))  # same networks, same noise: same grid
    assert same_noise_grid(str(run), seed=0) != same_noise_grid(str(run), seed=1)
    other = train_tiny(tmp_path / 'other', '--seed', '1')
    assert differences([read_run(str(run)), read_run(str(other))]) == ['eval_interval', 'seed']
    out = compare_runs([str(run), str(other)], str(tmp_path / 'pages' / 'compare.html'))
    page = Path(out).read_text()
    assert page.count('data:image/png;base64,') == 2
    assert '<section id="differences">' in page and '>seed<' in page
    links = re.findall(r'<a href="([^"]+)"', page)
    assert [os.path.normpath(os.path.join(tmp_path / 'pages', link)) for link in links] == [
        str(run / REPORT), str(other / REPORT)]


def test_report_command(run, tmp_path, capsys):
    from test_cli import rejected  # one line on stderr, exit code 2, no traceback
    (run / REPORT).unlink()
    cli_main(['report', str(run)])
    assert (run / REPORT).is_file()
    assert 'holds no bearer_gan run' in rejected(cli_main, ['report', str(tmp_path)], capsys)
    assert 'must name an .html file' in rejected(cli_main, ['report', str(run), '--out', str(tmp_path / 'x.txt')],
                                                 capsys)
    assert 'must name an .html file' in rejected(cli_main, ['report', str(run), '--out', str(tmp_path)], capsys)
    assert 'nowhere' in rejected(cli_main, ['report', str(tmp_path / 'nowhere')], capsys)
    assert list(tmp_path.iterdir()) == []  # nothing written


# --- in a browser ---

def chromium() -> str:
    found = shutil.which('chromium') or shutil.which('chromium-browser')
    if found is None:
        require(False, 'no chromium on this machine (Debian: apt-get install chromium)')
    return found


def rendered_body(page: Path) -> str:
    """The page's ``<body>`` tag once headless chromium has loaded it and run its script."""
    with tempfile.TemporaryDirectory() as profile:
        process = subprocess.Popen(
            [chromium(), '--headless', '--no-sandbox', '--disable-gpu', f'--user-data-dir={profile}',
             '--virtual-time-budget=10000', '--dump-dom', page.resolve().as_uri()],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            dom, _ = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return re.search(r'<body[^>]*>', dom.decode()).group(0), dom.decode()


def test_the_page_shows_every_image_in_a_browser(run):
    body, _ = rendered_body(run / REPORT)
    assert 'data-images="5"' in body and 'data-broken-images="0"' in body


def test_a_page_away_from_its_folder_names_what_it_cannot_show(run, tmp_path):
    alone = tmp_path / REPORT
    shutil.copy(run / REPORT, alone)
    body, dom = rendered_body(alone)
    assert 'data-broken-images="4"' in body  # the GIF, the grids, fid.png; the embedded chart still shows
    assert 'image(s) cannot be shown here: progress.gif' in dom


def test_the_comparison_shows_every_image_in_a_browser(run, tmp_path):
    out = Path(compare_runs([str(run), str(run)], str(tmp_path / 'compare.html')))
    body, _ = rendered_body(out)
    assert 'data-broken-images="0"' in body and 'data-images="3"' in body  # two grids, one chart


def test_scores_in_training_leave_out_the_costly_metrics(monkeypatch):
    from bearer_gan.evaluation.scorers import Scorer
    monkeypatch.setattr(Scorer, 'compare_features', lambda self, features: pytest.fail('k-NN metrics computed'))
    evaluator = FidEvaluator(interval=1, num_samples=20)
    spec = model_spec('tutorial', 8, (1, 28, 28))
    state = {torchbearer.MODEL: build_from_spec(spec)[0], keys.LATENT_DIM: 8, torchbearer.DEVICE: 'cpu'}
    evaluator.score(state, 1)
    assert evaluator.rows[0][1] > 0  # FID, without precision, recall, density, coverage or KID
