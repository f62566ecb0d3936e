#!/usr/bin/env python3
"""Times the official Ego4D MQ evaluator (detection + retrieval, file reading included) on the
val clips with N synthetic predictions per clip, and writes the prediction file for
`asl score`. Not run by CI. Usage:
    bench_official.py CLIP_ANNOTATIONS.json EPISODIC_MEMORY_REPO WORK_DIR N
EPISODIC_MEMORY_REPO is a git checkout (or bare mirror) of EGO4D/episodic-memory; the evaluator
is taken from its HEAD with `git show`. Then:
    time build/asl score --gt CLIP_ANNOTATIONS.json --pred WORK_DIR/pred_N.json
`asl bench --what score` writes the N = 200 file byte for byte (same random draws and JSON
text) and checks its metrics against the official numbers this script prints, which are
stored in bench/score_bench.cc with the official time: update both there after a rerun.
"""
import json, os, random, subprocess, sys, time
import numpy as np

src, repo, work, n = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3]), int(sys.argv[4])
rng = random.Random(n)
clips = json.load(open(src))
labels = sorted({a['label'] for v in clips.values() for a in v['annotations']})
results = {}
for k, v in clips.items():
    if v['subset'] != 'val':
        continue
    preds = []
    for i in range(n):
        if v['annotations'] and i % 2 == 0:
            a = rng.choice(v['annotations']); s, e = a['segment']; lab = a['label']
            j = (e - s) * 0.5; s, e = s + rng.uniform(-j, j), e + rng.uniform(-j, j)
            s, e = min(s, e), max(s, e)
        else:
            lab = rng.choice(labels); s = rng.uniform(0, v['duration']); e = s + rng.uniform(0, 60)
        preds.append({'label': lab, 'score': round(rng.random(), 4), 'segment': [s, e]})
    results[k] = sorted(preds, key=lambda p: -p['score'])
os.makedirs(work, exist_ok=True)
json.dump({'version': '1.0', 'challenge': 'ego4d_moment_queries', 'detect_results': results,
           'retrieve_results': results}, open(os.path.join(work, 'pred_%d.json' % n), 'w'))
pkg = os.path.join(work, 'Evaluation')
os.makedirs(os.path.join(pkg, 'ego4d'), exist_ok=True)
for f in ['utils.py', 'ego4d/eval_detection.py', 'ego4d/get_retrieval_performance.py']:
    open(os.path.join(pkg, f), 'wb').write(
        subprocess.check_output(['git', '-C', repo, 'show', 'HEAD:MQ/Evaluation/' + f]))
open(os.path.join(pkg, '__init__.py'), 'w').close()
open(os.path.join(pkg, 'ego4d', '__init__.py'), 'w').close()
open(os.path.join(work, 'sitecustomize.py'), 'w').write('import numpy\nnumpy.float = float\n')
os.environ['PYTHONPATH'] = work
sys.path.insert(0, work)
os.chdir(work)
np.float = float
json.dump({k: {'clip_id': v['clip_id'], 'subset': v['subset'],
               'annotations': [{'start_time': a['segment'][0], 'end_time': a['segment'][1],
                                'label': a['label']} for a in v['annotations']]}
           for k, v in clips.items()}, open('gt_official.json', 'w'))
json.dump({'version': '1.0', 'external_data': {}, 'results': results}, open('official_%d.json' % n, 'w'))
del results, clips
from Evaluation.ego4d.eval_detection import ANETdetection
from Evaluation.ego4d.get_retrieval_performance import Moment_Retrieval
t0 = time.time()
mAP, avg = ANETdetection('gt_official.json', 'official_%d.json' % n, subset='val',
                         tiou_thresholds=[0.1, 0.2, 0.3, 0.4, 0.5]).evaluate()
t1 = time.time()
ret = Moment_Retrieval('gt_official.json', 'official_%d.json' % n, subset='val').evaluate()
t2 = time.time()
print('official detection %.1f s, retrieval %.1f s, total %.1f s' % (t1 - t0, t2 - t1, t2 - t0))
print(json.dumps({'mAP': mAP.tolist(), 'average_mAP': float(avg), 'recall': ret.tolist()}))
