/**
 * Built-in architectures as network specs: the CIFAR-style ResNet-18 (3x3 stem, stride 1, no max-pool; four
 * stages of two BasicBlocks with widths w, 2w, 4w, 8w and strides 1, 2, 2, 2; global average pool; features of
 * size 8w). Fresh torchvision-style weights (lib/train/init.ts), seeded. Used by benchmarks and, later, by
 * `mimic pretrain`; tensor and parameter names follow PyTorch's module names.
 */
import { invalid } from '../errors.ts';
import type { LayerSpec, NetworkSpec, TensorSpec } from './spec.ts';
import { constant, kaimingNormalFanOut, paramSeed } from './init.ts';

export function cifarResNet18Spec(options: { width?: number; seed?: number; inChannels?: number; imageSize?: number } = {}): NetworkSpec {
  const w = options.width ?? 64;
  const seed = options.seed ?? 0;
  const cin = options.inChannels ?? 3;
  const size = options.imageSize ?? 32;
  // 2^12 channels at the last stage is far past any model this engine trains; beyond it the spec alone is GBs
  for (const [k, v, max] of [['width', w, 512], ['inChannels', cin, 64], ['imageSize', size, 4096]] as const)
    if (!Number.isInteger(v) || v < 1 || v > max) throw invalid(`${k} must be an integer in [1, ${max}] (got ${v})`);
  if (size < 8) throw invalid(`imageSize must be at least 8 (the network halves it three times; got ${size})`);
  const layers: LayerSpec[] = [];
  const params: TensorSpec[] = [];
  const buffers: TensorSpec[] = [];

  const conv = (x: string, prefix: string, ci: number, co: number, k: number, stride: number): string => {
    const name = `${prefix}.weight`;
    const dims = [co, ci, k, k];
    params.push({ name, shape: dims, data: kaimingNormalFanOut(dims, paramSeed(seed, params.length)) });
    const pad = (k - 1) / 2;
    layers.push({ op: 'Conv', name: prefix, inputs: [x], outputs: [`${prefix}_out`], params: [name], attrs: { strides: [stride, stride], pads: [pad, pad, pad, pad], dilations: [1, 1], group: 1 } });
    return `${prefix}_out`;
  };
  const bn = (x: string, prefix: string, c: number): string => {
    params.push({ name: `${prefix}.weight`, shape: [c], data: constant(c, 1) }, { name: `${prefix}.bias`, shape: [c], data: constant(c, 0) });
    buffers.push({ name: `${prefix}.running_mean`, shape: [c], data: constant(c, 0) }, { name: `${prefix}.running_var`, shape: [c], data: constant(c, 1) });
    layers.push({
      op: 'BatchNormalization',
      name: prefix,
      inputs: [x],
      outputs: [`${prefix}_out`],
      params: [`${prefix}.weight`, `${prefix}.bias`],
      buffers: [`${prefix}.running_mean`, `${prefix}.running_var`],
      attrs: { epsilon: 1e-5, momentum: 0.1 },
    });
    return `${prefix}_out`;
  };
  const relu = (x: string, name: string): string => {
    layers.push({ op: 'Relu', name, inputs: [x], outputs: [`${name}_out`], attrs: {} });
    return `${name}_out`;
  };
  const add = (a: string, b: string, name: string): string => {
    layers.push({ op: 'Add', name, inputs: [a, b], outputs: [`${name}_out`], attrs: {} });
    return `${name}_out`;
  };
  const block = (x: string, prefix: string, ci: number, co: number, stride: number): string => {
    let y = relu(bn(conv(x, `${prefix}.conv1`, ci, co, 3, stride), `${prefix}.bn1`, co), `${prefix}.relu1`);
    y = bn(conv(y, `${prefix}.conv2`, co, co, 3, 1), `${prefix}.bn2`, co);
    const shortcut = stride !== 1 || ci !== co ? bn(conv(x, `${prefix}.shortcut.0`, ci, co, 1, stride), `${prefix}.shortcut.1`, co) : x;
    return relu(add(y, shortcut, `${prefix}.add`), `${prefix}.relu2`);
  };

  let t = relu(bn(conv('input', 'conv1', cin, w, 3, 1), 'bn1', w), 'relu');
  let ch = w;
  [w, 2 * w, 4 * w, 8 * w].forEach((co, s) => {
    t = block(t, `layer${s + 1}.0`, ch, co, s === 0 ? 1 : 2);
    t = block(t, `layer${s + 1}.1`, co, co, 1);
    ch = co;
  });
  layers.push({ op: 'GlobalAveragePool', name: 'avgpool', inputs: [t], outputs: ['pooled'], attrs: {} });
  layers.push({ op: 'Flatten', name: 'flatten', inputs: ['pooled'], outputs: ['features'], attrs: { axis: 1 } });
  return { inputs: [{ name: 'input', shape: [cin, size, size] }], outputs: ['features'], layers, params, buffers };
}

/** Multiply-accumulates of one forward pass per sample (convolutions only; the rest is negligible). */
export function convMacsPerSample(spec: NetworkSpec, shapes: Map<string, number[]>): number {
  let macs = 0;
  for (const l of spec.layers) {
    if (l.op !== 'Conv') continue;
    const w = spec.params.find((p) => p.name === l.params![0])!.shape;
    const out = shapes.get(l.outputs[0])!;
    macs += out.reduce((a, b) => a * b, 1) * w[1] * w[2] * w[3];
  }
  return macs;
}
