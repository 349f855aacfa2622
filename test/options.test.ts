// The public calls refuse option names they do not know (a misspelt option would silently take its default),
// naming the option and the nearest known name; options set to undefined are accepted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { badEncoder, clean, estimateMI, evaluate, localize, mimicBeta, MimicError, Network, openDataset, pretrain, runTeacherOnDataset, TeacherRunner, cifarResNet18Spec } from '../lib/index.ts';
import { checkOptionNames } from '../lib/util/options.ts';

const refused = (re: RegExp) => (e: unknown) => e instanceof MimicError && e.code === 'E_INVALID_ARGUMENT' && re.test(e.message);

test('a misspelt option of each public call is refused before any work, with the nearest name', async () => {
  const fixture = new URL('./fixtures/resnet18_w8.onnx', import.meta.url).pathname;
  const data = new Float32Array(64 * 4);
  await assert.rejects(estimateMI({ layers: [{ data, rows: 64, cols: 4 }], treads: 1 } as never), refused(/estimateMI: unknown option 'treads' \(did you mean 'threads'\?\)/));
  await assert.rejects(clean({ teacher: fixture, data: 'none', out: '/nonexistent/x.onnx', epoch: 3 } as never), refused(/clean: unknown option 'epoch' \(did you mean 'epochs'\?\)/));
  await assert.rejects(clean({ teacher: fixture, data: 'none', out: '/nonexistent/x.onnx' }, { onProgres: () => {} } as never), refused(/clean hooks: unknown option 'onProgres' \(did you mean 'onProgress'\?\)/));
  await assert.rejects(localize({ teacher: fixture, data: 'none', bandwith: [1] } as never), refused(/localize: unknown option 'bandwith' \(did you mean 'bandwidth'\?\)/));
  await assert.rejects(evaluate({ encoder: fixture, train: 'none', test: 'none', classifier: ['knn'] } as never), refused(/evaluate: unknown option 'classifier' \(did you mean 'classifiers'\?\)/));
  await assert.rejects(pretrain({ data: 'none', out: '/nonexistent/x.onnx', epocs: 1 } as never), refused(/pretrain: unknown option 'epocs' \(did you mean 'epochs'\?\)/));
  await assert.rejects(badEncoder({ encoder: fixture, data: 'none', out: '/nonexistent/x.onnx', trigger: 'white:4@0,0', target: 0, lamda1: 2 } as never), refused(/badEncoder: unknown option 'lamda1' \(did you mean 'lambda1'\?\)/));
  await assert.rejects(TeacherRunner.create({ model: new Uint8Array(1), outputs: ['x'], thread: 1 } as never), refused(/TeacherRunner\.create: unknown option 'thread'/));
  await assert.rejects(runTeacherOnDataset({ batchsize: 8 } as never), refused(/runTeacherOnDataset: unknown option 'batchsize' \(did you mean 'batchSize'\?\)/));
  assert.throws(() => mimicBeta([1, 2], { bse: 10 } as never), refused(/mimicBeta: unknown option 'bse' \(did you mean 'base'\?\)/));
  assert.throws(() => Network.create(cifarResNet18Spec({ width: 4 }), { thread: 1 } as never), refused(/Network\.create: unknown option 'thread' \(did you mean 'threads'\?\)/));
});

test('checkOptionNames: undefined values pass, far-off names get no suggestion, non-objects are refused', () => {
  const known = ['epochs', 'batchSize', 'lr'];
  checkOptionNames({ epochs: 1, lr: undefined, other: undefined }, known, 'f');
  assert.throws(() => checkOptionNames({ colour: 'red' }, known, 'f'), (e: unknown) => refused(/f: unknown option 'colour'; the options are epochs, batchSize, lr/)(e) && !/did you mean/.test((e as Error).message));
  assert.throws(() => checkOptionNames({ BatchSize: 2 }, known, 'f'), refused(/did you mean 'batchSize'/));
  assert.throws(() => checkOptionNames(null as never, known, 'f'), refused(/f: the options must be an object \(got null\)/));
});

test('nested option objects too: transform, the classifiers of evaluate, openDataset', async () => {
  const fixture = new URL('./fixtures/resnet18_w8.onnx', import.meta.url).pathname;
  await assert.rejects(clean({ teacher: fixture, data: 'none', out: '/nonexistent/x.onnx', transform: { normalise: 'none' } } as never), refused(/clean transform: unknown option 'normalise' \(did you mean 'normalize'\?\)/));
  await assert.rejects(localize({ teacher: fixture, data: 'none', transform: { channelmode: 'convert' } } as never), refused(/localize transform: unknown option 'channelmode' \(did you mean 'channelMode'\?\)/));
  await assert.rejects(localize({ teacher: fixture, data: 'none', weights: { bas: 1 } } as never), refused(/localize weights: unknown option 'bas' \(did you mean 'base'\?\)/));
  await assert.rejects(evaluate({ encoder: fixture, train: 'none', test: 'none', knn: { K: 20 } } as never), refused(/evaluate knn: unknown option 'K' \(did you mean 'k'\?\)/));
  await assert.rejects(evaluate({ encoder: fixture, train: 'none', test: 'none', mlp: { epoch: 2 } } as never), refused(/evaluate mlp: unknown option 'epoch' \(did you mean 'epochs'\?\)/));
  await assert.rejects(openDataset('none', { splt: 'test' } as never), refused(/openDataset options: unknown option 'splt' \(did you mean 'split'\?\)/));
  await assert.rejects(openDataset({ path: 'none', lables: false } as never), refused(/openDataset spec: unknown option 'lables' \(did you mean 'labels'\?\)/));
});
