#!/usr/bin/env python3
"""Makes the fixtures of tests/eval and runs the official Ego4D MQ evaluator on them.

Not run by CI (CI has no Python). Needs numpy, pandas and joblib, and the official code:
    git clone https://github.com/EGO4D/episodic-memory   (MQ/Evaluation)
Usage: make_fixtures.py CLIP_ANNOTATIONS.json EPISODIC_MEMORY_REPO OUT_DIR

Writes OUT_DIR/gt.json (clip annotations: 40 val clips and 3 train clips of the real
annotations plus an exact duplicate and two zero-length entries), OUT_DIR/pred.json
(synthetic predictions: label swaps, labels absent from the ground truth, clips without
predictions, unknown clips, zero-length segments, many tied scores), OUT_DIR/expected.json
(the official numbers) and OUT_DIR/argsort.json (numpy.argsort on tie-heavy arrays).
"""
import json, os, random, shutil, subprocess, sys, tempfile
import numpy as np

src, repo, out = sys.argv[1:4]
rng = random.Random(7)
clips = json.load(open(src))
val = [k for k, v in clips.items() if v['subset'] == 'val'][:40]
train = [k for k, v in clips.items() if v['subset'] == 'train'][:3]
gt = {k: json.loads(json.dumps(clips[k])) for k in val + train}
# An exact duplicate entry and a zero-length entry with a zero-length prediction on it.
c0 = gt[val[0]]
c0['annotations'].append(dict(c0['annotations'][0]))
a = dict(c0['annotations'][1]); a['segment'] = [100.0, 100.0]; c0['annotations'].append(a)
a = dict(gt[val[1]]['annotations'][0]); a['segment'] = [50.0, 50.0]; gt[val[1]]['annotations'].append(a)

labels = sorted({a['label'] for v in gt.values() for a in v['annotations']})
without = set(val[2:5])  # clips without predictions
detect = {}
for k in val + train + ['unknown-clip-a', 'unknown-clip-b']:
    if k in without:
        continue
    anns = gt[k]['annotations'] if k in gt else clips[val[5]]['annotations']
    dur = gt[k]['duration'] if k in gt else 480.0
    preds = []
    for a in anns:
        for _ in range(rng.randint(0, 3)):
            s, e = a['segment']
            j = (e - s) * rng.uniform(0.0, 0.6)
            s2, e2 = max(0.0, s + rng.uniform(-j, j)), e + rng.uniform(-j, j)
            if e2 < s2: s2, e2 = e2, s2
            lab = a['label'] if rng.random() < 0.8 else rng.choice(labels)
            preds.append([lab, s2, e2])
    for _ in range(12):
        s = rng.uniform(0, dur - 5); preds.append([rng.choice(labels), s, s + rng.uniform(0, 60)])
    preds.append(['not_a_label', 10.0, 20.0])
    preds.append([rng.choice(labels), 30.0, 30.0])  # zero length
    if k == val[0]: preds.append([c0['annotations'][1]['label'], 100.0, 100.0])
    if k == val[1]: preds.append([a['label'], 50.0, 50.0])
    rng.shuffle(preds)
    # Scores on a coarse grid: many ties, within and across clips.
    detect[k] = [{'label': l, 'score': rng.choice([0.1, 0.2, 0.3, 0.5, 0.9]) if rng.random() < 0.7
                  else round(rng.random(), 6), 'segment': [round(s, 5), round(e, 5)]}
                 for l, s, e in preds]
# Retrieval lists each clip's predictions by descending score (stable), as this project writes.
retrieve = {k: sorted(v, key=lambda p: -p['score']) for k, v in detect.items()}
os.makedirs(out, exist_ok=True)
json.dump(gt, open(os.path.join(out, 'gt.json'), 'w'))
json.dump({'version': '1.0', 'challenge': 'ego4d_moment_queries', 'detect_results': detect,
           'retrieve_results': retrieve}, open(os.path.join(out, 'pred.json'), 'w'))

# The official code, unchanged, in a package of its own (it imports `..utils`).
work = tempfile.mkdtemp()
pkg = os.path.join(work, 'Evaluation')
os.makedirs(os.path.join(pkg, 'ego4d'))
for f in ['utils.py', 'ego4d/eval_detection.py', 'ego4d/get_retrieval_performance.py']:
    text = subprocess.check_output(['git', '-C', repo, 'show', 'HEAD:MQ/Evaluation/' + f])
    open(os.path.join(pkg, f), 'wb').write(text)
open(os.path.join(pkg, '__init__.py'), 'w').close()
open(os.path.join(pkg, 'ego4d', '__init__.py'), 'w').close()
sys.path.insert(0, work)
os.chdir(work)  # it writes activity_idx.json and ap.npy into the working folder
# np.float was removed in numpy 1.24 and the official code still uses it: restore the alias
# here and, through sitecustomize, in joblib's worker processes.
np.float = float
open('sitecustomize.py', 'w').write('import numpy\nnumpy.float = float\n')
os.environ['PYTHONPATH'] = work + os.pathsep + os.environ.get('PYTHONPATH', '')
from Evaluation.ego4d.eval_detection import ANETdetection
from Evaluation.ego4d.get_retrieval_performance import Moment_Retrieval

# Its ground-truth layout: start_time / end_time per annotation.
official_gt = {k: {'clip_id': v['clip_id'], 'subset': v['subset'],
                   'annotations': [{'start_time': a['segment'][0], 'end_time': a['segment'][1],
                                    'label': a['label']} for a in v['annotations']]}
               for k, v in gt.items()}
json.dump(official_gt, open('gt.json', 'w'))
json.dump({'version': '1.0', 'external_data': {}, 'results': detect}, open('det.json', 'w'))
# The retrieval script raises KeyError on a split clip absent from the file; asl score counts
# such a clip as an empty list, which is what the script gives for an explicit [].
json.dump({'version': '1.0', 'external_data': {}, 'results': dict(retrieve, **{k: [] for k in without})},
          open('ret.json', 'w'))
tious = [0.1, 0.2, 0.3, 0.4, 0.5]
det = ANETdetection('gt.json', 'det.json', subset='val', tiou_thresholds=tious)
mAP, avg = det.evaluate()
classes = list(det.activity_index.keys())
ret = Moment_Retrieval('gt.json', 'ret.json', subset='val').evaluate()
expected = {'mAP': {str(t): float(m) for t, m in zip(tious, mAP)}, 'average_mAP': float(avg),
            'recall': {'R%d@%s' % (k, t): float(ret[i, j]) for i, t in enumerate([0.3, 0.5, 0.7])
                       for j, k in enumerate([1, 2, 3, 4, 5])},
            'ap': {c: [float(det.ap[t, det.activity_index[c]]) for t in range(len(tious))] for c in classes}}
os.chdir(out)
json.dump(expected, open('expected.json', 'w'), indent=1)
shutil.rmtree(work)

cases = []
for n in [5, 16, 17, 40, 100, 300, 1000]:
    for levels in [1, 2, 5]:
        v = [float(rng.randrange(levels)) for _ in range(n)]
        if n == 40 and levels == 5: v[3] = float('nan'); v[20] = float('nan')
        cases.append({'values': [x if x == x else None for x in v], 'argsort': np.array(v).argsort().tolist()})
json.dump(cases, open('argsort.json', 'w'))
print('mAP', mAP, 'avg', avg); print('recall', ret)
