/** The benchmarks' training step: CIFAR ResNet-18 (cifarResNet18Spec, seed 1), forward + MSE to a fixed random
 *  target + backward + Adam, batch x 3 x 32 x 32 fixed random inputs. Used by the train and profile suites. */
import { Optimizer } from '../../lib/index.ts';
import { Network } from '../../lib/train/network.ts';
import { cifarResNet18Spec } from '../../lib/train/models.ts';
import type { NetworkSpec } from '../../lib/train/spec.ts';
import { gaussian } from '../../lib/util/rng.ts';

export interface TrainStep {
  spec: NetworkSpec;
  net: Network;
  step: () => void;
}

export function trainStep(width: number, batch: number, threads: number): TrainStep {
  const spec = cifarResNet18Spec({ width, seed: 1 });
  const net = Network.create(spec, { threads });
  net.setMode('train');
  const opt = Optimizer.create({ kind: 'adam', params: net.paramViews(), lr: 1e-2, weightDecay: 1e-6, threads });
  const x = gaussian(batch * 3 * 32 * 32, 2);
  const target = gaussian(batch * 8 * width, 3);
  const grad = new Float32Array(batch * 8 * width);
  const step = () => {
    const out = net.forward({ input: x.slice() }).features;
    for (let i = 0; i < out.length; ++i) grad[i] = (2 * (out[i] - target[i])) / out.length;
    net.backward({ features: grad });
    opt.step(net.gradViews());
  };
  return { spec, net, step };
}
