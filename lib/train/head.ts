/** The SimCLR projection head used by pretraining and cleaning: Gemm(d -> hidden) -> ReLU -> Gemm(hidden -> out). */
import { linearDefault, paramSeed } from './init.ts';
import type { NetworkSpec } from './spec.ts';

export const HEAD_INPUT = 'mimic_head_in';
export const HEAD_OUTPUT = 'mimic_head_u';

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

export function headSpec(d: number, hidden: number, out: number, seed: number): NetworkSpec {
  const p = (name: string, shape: number[], fanIn: number, k: number) => ({ name, shape, data: linearDefault(prod(shape), fanIn, paramSeed(seed ^ 0x5eed, k)) });
  return {
    inputs: [{ name: HEAD_INPUT, shape: [d] }],
    outputs: [HEAD_OUTPUT],
    layers: [
      { op: 'Gemm', name: 'mimic_head_fc1', inputs: [HEAD_INPUT], outputs: ['mimic_head_h'], params: ['mimic_head.0.weight', 'mimic_head.0.bias'], attrs: { transB: 1 } },
      { op: 'Relu', name: 'mimic_head_relu', inputs: ['mimic_head_h'], outputs: ['mimic_head_r'], attrs: {} },
      { op: 'Gemm', name: 'mimic_head_fc2', inputs: ['mimic_head_r'], outputs: [HEAD_OUTPUT], params: ['mimic_head.2.weight', 'mimic_head.2.bias'], attrs: { transB: 1 } },
    ],
    params: [p('mimic_head.0.weight', [hidden, d], d, 0), p('mimic_head.0.bias', [hidden], d, 1), p('mimic_head.2.weight', [out, hidden], hidden, 2), p('mimic_head.2.bias', [out], hidden, 3)],
    buffers: [],
  };
}
