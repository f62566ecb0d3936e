#!/usr/bin/env python3
"""Makes the NLQ fixtures of tests/eval and runs the official Ego4D NLQ evaluator on them.

Not run by CI (CI has no Python). Needs numpy and terminaltables, and the official code:
    git clone https://github.com/EGO4D/episodic-memory   (NLQ/VSLNet/utils/evaluate_ego4d_nlq.py)
Usage: make_nlq_fixtures.py EPISODIC_MEMORY_REPO OUT_DIR

Writes, from a fixed seed and made-up ids:
  OUT_DIR/gt.json          ground truth in the official layout (videos -> clips -> annotations
                           -> language_queries): 2 videos, 5 clips, 40 queries, with zero-length
                           windows, one reversed window and one query without text;
  OUT_DIR/submission.json  an NLQ submission for 33 of the queries (one of them twice): 1, 3, 5
                           and 7 windows each, reversed and zero-length windows, integer
                           seconds, and windows at IoU exactly 0.3 and 0.5 (3/10 and 5/10 in
                           doubles) first and further down the list;
  OUT_DIR/expected.json    the official numbers, full double precision: evaluate_nlq_performance
                           called directly (after main()'s version and challenge checks) with
                           thresholds 0.3, 0.5 and topK 1, 5 ("metrics", the keys of asl score
                           --json), and with thresholds 0.1 0.3 0.5 0.7 and topK 1 3 5 10
                           ("wide").
mean_R1 is the mean of the official Rank@1 row over the thresholds (the challenge's ranking);
evaluated and num_gt_queries are read from the official "Evaluated: n / m instances" line.
"""
import contextlib, importlib.util, io, json, os, random, re, shutil, subprocess, sys, tempfile
import numpy as np

repo, out = sys.argv[1:3]
os.makedirs(out, exist_ok=True)
rng = random.Random(20240611)


def uid(prefix):
    return '%s-%08x-%04x' % (prefix, rng.getrandbits(32), rng.getrandbits(16))


# Ground truth: 2 videos, 5 clips (3 + 2), 40 queries in 1..3 annotations per clip.
queries_per_clip = [9, 7, 8, 10, 6]
videos, keys = [], []  # keys: (clip_uid, annotation_uid, query_idx, start, end, clip_len)
clip_no = 0
for v in range(2):
    video = {'video_uid': uid('video'), 'clips': []}
    for _ in range(3 if v == 0 else 2):
        clip_len = 480.0
        clip = {'clip_uid': uid('clip'), 'video_start_sec': 100.0 * clip_no,
                'video_end_sec': 100.0 * clip_no + clip_len, 'clip_start_sec': 0.0,
                'clip_end_sec': clip_len, 'source_clip_uid': uid('src'), 'annotations': []}
        n = queries_per_clip[clip_no]
        sizes = [n] if clip_no == 4 else [n // 2, n - n // 2] if clip_no % 2 else [3, 3, n - 6]
        for size in sizes:
            ann = {'annotation_uid': uid('ann'), 'language_queries': []}
            for q in range(size):
                s = round(rng.uniform(0, 440), rng.choice([0, 1, 3]))
                e = round(s + rng.uniform(1, 40), 3)
                query = {'clip_start_sec': s, 'clip_end_sec': e,
                         'video_start_sec': clip['video_start_sec'] + s,
                         'video_end_sec': clip['video_start_sec'] + e,
                         'template': 'Objects: Where is object X before / after event Y?',
                         'query': 'where did I put the %s?' % rng.choice(['cup', 'knife', 'tape']),
                         'slot_x': 'cup', 'verb_x': 'put'}
                ann['language_queries'].append(query)
            clip['annotations'].append(ann)
        video['clips'].append(clip)
        clip_no += 1
    videos.append(video)
all_q = [(c['clip_uid'], a['annotation_uid'], i, q)
         for v in videos for c in v['clips'] for a in c['annotations']
         for i, q in enumerate(a['language_queries'])]
assert len(all_q) == 40
# Special ground-truth windows.
all_q[0][3].update(clip_start_sec=0, clip_end_sec=10)            # boundary 0.3 in window 1
all_q[1][3].update(clip_start_sec=100.0, clip_end_sec=110.0)     # boundary 0.5 in window 1
all_q[2][3].update(clip_start_sec=20.0, clip_end_sec=30.0)       # 0.5 only at window 3
all_q[3][3].update(clip_start_sec=55.5, clip_end_sec=55.5)       # zero length
all_q[4][3].update(clip_start_sec=200.25, clip_end_sec=200.25)   # zero length
all_q[5][3].update(clip_start_sec=90.0, clip_end_sec=60.0)       # reversed
del all_q[6][3]['query']                                         # no text: still counts
json.dump({'version': 'v1', 'description': 'made-up NLQ fixture', 'videos': videos},
          open(os.path.join(out, 'gt.json'), 'w'), indent=1)


def jitter(s, e, spread):
    d = max(e - s, 1.0) * spread
    return [round(s + rng.uniform(-d, d), 2), round(e + rng.uniform(-d, d), 2)]


results = []
counts = [1, 3, 5, 7]
chosen = [q for i, q in enumerate(all_q) if i not in (34, 35, 36, 37, 38, 39, 7)]  # 33 of 40
for i, (clip_uid, ann_uid, idx, q) in enumerate(chosen):
    s, e = q['clip_start_sec'], q['clip_end_sec']
    n = counts[i % 4]
    times = []
    for w in range(n):
        r = rng.random()
        if r < 0.35:
            times.append(jitter(s, e, 0.3))
        elif r < 0.5:
            times.append(jitter(s, e, 1.0))
        elif r < 0.6:
            a = round(rng.uniform(0, 470), 1); times.append([a + 5.0, a])  # reversed
        elif r < 0.65:
            a = round(rng.uniform(0, 470), 1); times.append([a, a])        # zero length
        elif r < 0.75:
            a = rng.randrange(0, 470); times.append([a, a + rng.randrange(1, 30)])  # integers
        else:
            a = rng.uniform(0, 470); times.append([a, a + rng.uniform(0.5, 30)])
    results.append({'clip_uid': clip_uid, 'annotation_uid': ann_uid, 'query_idx': idx,
                    'predicted_times': times})
# Windows on the thresholds: IoU 3/10 == 0.3 and 5/10 == 0.5 exactly, so only strict > misses.
results[0]['predicted_times'] = [[0, 3], [50.0, 60.0], [0.0, 3.0]]                 # 0.3, 1 of 3
results[1]['predicted_times'] = [[100.0, 105.0], [200.0, 300.0], [105.0, 110.0],
                                 [400, 401], [100.0, 105.0]]                        # 0.5 first
results[2]['predicted_times'] = [[0.0, 5.0], [300.0, 310.0], [25.0, 30.0],
                                 [24.0, 30.0], [10.0, 12.0], [21.0, 29.0], [20, 30]]  # 0.5, 0.6 at 4
results[3]['predicted_times'] = [[50.0, 60.0]]                                      # zero-length gt
results[4]['predicted_times'] = [[200.0, 200.5], [199.0, 201.0], [300.0, 301.0]]
# On the reversed window: all IoU 0, and the second (the same reversed window) has union 0:
# NaN there, never > t; it is not the first window, so mIoU stays a number.
results[5]['predicted_times'] = [[60.0, 90.0], [90.0, 60.0], [70.0, 80.0], [0.0, 400.0], [1.0, 2.0]]
results[6]['predicted_times'] = [[all_q[6][3]['clip_start_sec'], all_q[6][3]['clip_end_sec']]]  # IoU 1
results.append(json.loads(json.dumps(results[9])))                                 # duplicate key
results[-1]['predicted_times'] = results[-1]['predicted_times'][::-1]
rng.shuffle(results)
submission = {'version': '1.0', 'challenge': 'ego4d_nlq_challenge', 'results': results}
json.dump(submission, open(os.path.join(out, 'submission.json'), 'w'), indent=1)

# The official code, unchanged, from the repository's HEAD.
work = tempfile.mkdtemp()
path = os.path.join(work, 'evaluate_ego4d_nlq.py')
open(path, 'wb').write(subprocess.check_output(
    ['git', '-C', repo, 'show', 'HEAD:NLQ/VSLNet/utils/evaluate_ego4d_nlq.py']))
spec = importlib.util.spec_from_file_location('evaluate_ego4d_nlq', path)
official = importlib.util.module_from_spec(spec)
spec.loader.exec_module(official)

predictions = json.load(open(os.path.join(out, 'submission.json')))
ground_truth = json.load(open(os.path.join(out, 'gt.json')))
# main()'s checks.
assert predictions.get('version', None) == '1.0'
assert predictions.get('challenge', None) == 'ego4d_nlq_challenge'


def run(thresholds, top_k):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        results, miou, per = official.evaluate_nlq_performance(
            predictions['results'], ground_truth, thresholds, top_k, per_instance=True)
        table = official.display_results(results.copy(), miou, thresholds, top_k)[0]
    n, m = map(int, re.search(r'Evaluated: (\d+) / (\d+) instances', buf.getvalue()).groups())
    assert np.isfinite(miou), 'a window pair with union 0 (NaN): keep the fixture away from it'
    got = {'R%d@%g' % (k, t): float(results[ti][ki])
           for ki, k in enumerate(top_k) for ti, t in enumerate(thresholds)}
    got['mIoU'] = float(miou)
    got['mean_R1'] = float(np.mean(results[:, top_k.index(1)]))
    got['evaluated'] = n
    got['num_gt_queries'] = m
    return got, per, table


metrics, per, table = run([0.3, 0.5], [1, 5])
wide, _, _ = run([0.1, 0.3, 0.5, 0.7], [1, 3, 5, 10])
expected = {'metrics': metrics, 'wide': wide,
            'first_window_iou': [float(x) for x in per['average_IoU']]}
json.dump(expected, open(os.path.join(out, 'expected.json'), 'w'), indent=1)
shutil.rmtree(work)
# numpy warns "invalid value encountered in divide" once: the union-0 window of results[5].
print(table)
print(json.dumps(metrics, indent=1))
