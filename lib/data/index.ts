/** The dataset layer (issue #3): readers, format detection, batching transforms, seeded subsets. */
export * from './types.ts';
export { readIdx, readIdxImages, readIdxLabels, parseIdxImages, parseIdxLabels, parseIdxHeader, looksLikeIdx, type IdxOptions, type IdxHeader } from './idx.ts';
export { readCifar, parseCifar, cifarRecordSize, type CifarOptions, type CifarVariant } from './cifar.ts';
export {
  readNpyImages, readNpzImages, readNpz, parseNpz, datasetFromArrays, IMAGE_NAMES, LABEL_NAMES,
  type ArrayImageOptions, type NpzOptions, type ArrayLayout, type FloatRange,
} from './npz.ts';
export { readPngFolder, listPngs, parseLabelFile, type PngFolderOptions } from './png.ts';
export { openDataset, detectFile, DATASET_FORMATS, type DatasetFormat, type OpenOptions, type DatasetSpec } from './open.ts';
export {
  planBatch, makeBatch, batches, resizeTable, NORMALIZATION_PRESETS, LUMINANCE,
  type BatchSpec, type BatchPlan, type Batch, type BatchIteratorOptions, type SizeMode, type ChannelMode,
  type Normalization, type NormalizationPreset,
} from './transform.ts';
export { selectSubset, selectIndices, subsetSize, hashImages, verifyManifest, type SubsetManifest, type SubsetOptions, type SubsetMethod, type VerifyResult } from './subset.ts';
