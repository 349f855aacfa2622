/** `mimic layers`. */
import { type Command } from 'commander';
import { autoProbes, inferShapes, loadModel, summarize } from '../onnx/index.ts';
import { parseList } from './common.ts';

export function registerLayers(program: Command): void {
  program
    .command('layers')
    .description("a model's tensors with their shapes (one onnxruntime run on 2 samples); the automatic probes marked *")
    .argument('<model>', 'ONNX file')
    .option('--input-shape <c,h,w>', 'per-sample input shape when the model leaves it symbolic')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { inputShape?: string; json?: boolean }) => {
      const model = await loadModel(file);
      const summary = summarize(model);
      const inputShape = opts.inputShape ? parseList(opts.inputShape).map(Math.round) : undefined;
      const shapes = await inferShapes(model, { inputShape });
      let auto: { probes: string[]; features: string } | undefined;
      let autoError: string | undefined;
      try {
        const set = autoProbes(model, shapes);
        auto = { probes: set.probes.map((p) => p.name), features: set.features.name };
      } catch (err) {
        autoError = (err as Error).message;
      }
      const entries = [...shapes.entries()];
      const outputNames = new Set(summary.outputs.map((o) => o.name));
      // topological order of the intermediates first, the model outputs last
      const ordered = [...entries.filter(([n]) => !outputNames.has(n)), ...entries.filter(([n]) => outputNames.has(n))];
      const tensors = ordered.map(([name, shape]) => ({
        name,
        shape: shape.slice(1),
        probe: auto?.probes.includes(name) ?? false,
        features: auto?.features === name,
      }));
      if (opts.json) {
        process.stdout.write(JSON.stringify({ file, irVersion: summary.irVersion, opset: summary.opset, producer: summary.producer, inputs: summary.inputs, outputs: summary.outputs, parameters: summary.parameters, opCounts: summary.opCounts, tensors, probes: auto?.probes ?? [], features: auto?.features ?? null, autoProbeError: autoError }, null, 2) + '\n');
        return;
      }
      const out = [
        `${file}: IR ${summary.irVersion}, opset ${summary.opset}, producer ${summary.producer.name} ${summary.producer.version}, ${summary.parameters} parameters`,
        `inputs: ${summary.inputs.map((i) => `${i.name} (${(i.shape ?? []).join(', ')})`).join('; ')}`,
        `outputs: ${summary.outputs.map((i) => `${i.name} (${(i.shape ?? []).join(', ')})`).join('; ')}`,
        autoError ? `automatic probes: none (${autoError})` : `automatic probes (*): ${auto!.probes.length}, features (=>): ${auto!.features}`,
        '',
        ...tensors.map((t) => `${t.probe ? '*  ' : t.features ? '=> ' : '   '}${t.name}  ${t.shape.join('x')}`),
      ];
      process.stdout.write(out.join('\n') + '\n');
    });
}
