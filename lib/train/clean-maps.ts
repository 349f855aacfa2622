/**
 * Teacher-vs-student attention maps for the cleaning report: a(F)[h, w] = sum_c F[c, h, w]^2, normalised per
 * image by its L2 norm over (h, w), for every probe, on a few clean images — and, for evaluation only, on copies
 * of the same images stamped with a trigger the user names. Nothing here feeds training.
 */
import { applyTrigger, type ResolvedTrigger } from '../attack/trigger.ts';
import { makeBatch, type Normalization, type NormalizationPreset } from '../data/transform.ts';
import type { ImageDataset } from '../data/types.ts';
import { TeacherRunner } from '../teacher/runner.ts';
import type { Network } from './network.ts';

export interface AttentionPanel {
  image: string;
  teacher: number[][];
  student: number[][];
  shapes: [number, number][];
  stamped?: boolean;
}

function attention(data: Float32Array, n: number, c: number, h: number, w: number): number[][] {
  const maps: number[][] = [];
  for (let b = 0; b < n; ++b) {
    const a = new Array<number>(h * w).fill(0);
    for (let ch = 0; ch < c; ++ch) {
      const base = (b * c + ch) * h * w;
      for (let p = 0; p < h * w; ++p) a[p] += data[base + p] * data[base + p];
    }
    const norm = Math.sqrt(a.reduce((s, v) => s + v * v, 0)) + 1e-6;
    maps.push(a.map((v) => v / norm));
  }
  return maps;
}

export async function attentionPanels(o: {
  teacherModel: Uint8Array;
  probes: { name: string; shape: number[] }[];
  student: Network;
  studentInput: string;
  images: ImageDataset;
  indices: number[];
  normalize: NormalizationPreset | Normalization;
  /** Stamped on copies of the images (uint8, before normalisation), for evaluation only. */
  trigger?: ResolvedTrigger;
  teacherThreads?: number;
}): Promise<AttentionPanel[]> {
  const { channels, height, width } = o.images;
  const spec = { channels, height, width, normalize: o.normalize };
  const runner = await TeacherRunner.create({ model: o.teacherModel, outputs: o.probes.map((p) => p.name), threads: o.teacherThreads ?? 1 });
  const sets: { ds: ImageDataset; idx: number[]; stamped: boolean }[] = [{ ds: o.images, idx: o.indices, stamped: false }];
  if (o.trigger) sets.push({ ds: { ...applyTrigger(o.images, o.trigger, o.indices), labels: undefined }, idx: o.indices.map((_, k) => k), stamped: true });
  const panels: AttentionPanel[] = [];
  try {
    o.student.setMode('eval');
    for (const set of sets) {
      const n = set.idx.length;
      const batch = makeBatch(set.ds, set.idx, spec);
      const studentOut = o.student.forward({ [o.studentInput]: batch.slice() }, n);
      const teacherOut = await runner.run(batch, [n, channels, height, width]);
      const per = o.probes.map((p) => {
        const [c, h, w] = p.shape;
        return { t: attention(teacherOut[p.name].data, n, c, h, w), s: attention(studentOut[p.name], n, c, h, w), hw: [h, w] as [number, number] };
      });
      for (let b = 0; b < n; ++b)
        panels.push({
          image: `${set.stamped ? 'stamped ' : ''}clean image #${o.indices[b]}`,
          // 5 significant digits: plenty for a picture, and report.json stays small (it was half raw floats)
          teacher: per.map((q) => q.t[b].map(round5)),
          student: per.map((q) => q.s[b].map(round5)),
          shapes: per.map((q) => q.hw),
          stamped: set.stamped || undefined,
        });
    }
  } finally {
    await runner.close();
  }
  return panels;
}

const round5 = (v: number): number => Number(v.toPrecision(5));
