// The package entry for plain Node (`import { estimateMI } from 'mimic-engine'`): the library is written in
// TypeScript and runs from its sources, loaded here through tsx's scoped loader (only these imports go through it;
// the application's own module loading is untouched). Written by scripts/write-entry.ts (npm run entry) from
// lib/index.ts's exports; test/package-entry.test.ts checks that they agree. TypeScript users get declarations from
// types/ (npm run types; package.json "types").
import { tsImport } from 'tsx/esm/api';

const api = await tsImport('./lib/index.ts', import.meta.url);

export const {
  DATASET_FORMATS, IMAGE_NAMES, KnnClassifier, LABEL_NAMES, LUMINANCE, LinearProbe, MAX_DIM, MAX_ELEMENTS, MAX_RANK,
  MimicError, MlpClassifier, ModelBuilder, NORMALIZATION_PRESETS, Network, Optimizer, QUANTITIES, SUPPORTED_OPS,
  TeacherRunner, autoProbes, badEncoder, batches, buildConvEncoder, buildInfo, candidateTensors, checkDataset,
  checkModel, cifarRecordSize, cifarResNet18Spec, clean, closeMatches, consumersOf, copyBufferBytes,
  datasetFromArrays, decodeModel, decodeRaw, detectFile, elemTypeName, elemTypes, encodeDataset, encodeModel,
  encodeNpy, encoderImageInput, estimateMI, evaluate, fitKnn, fitLinearProbe, fitMlp, floatTensor, formatEstimate,
  formatEvaluation, hashImages, imageBytes, imageSize, indexGraph, inferShapes, inlineExternalData, inputSpecs,
  int64Tensor, listPngs, loadModel, localize, looksLikeIdx, makeBatch, mimicBeta, nodeInputs, nodeLabel, onnx,
  onnxBytesFromSpec, onnxFromSpec, openDataset, parseCifar, parseIdxHeader, parseIdxImages, parseIdxLabels,
  parseLabelFile, parseNpy, parseNpz, perturbBatch, perturbBatchAsync, planBatch, prepareEncoder, prepareProbes,
  pretrain, producerOf, readCifar, readIdx, readIdxImages, readIdxLabels, readNpy, readNpyImages, readNpz,
  readNpzImages, readPngFolder, releaseCopyBuffers, renderReportHtml, resizeTable, runTeacherOnDataset, saveModel,
  saveSpecAsOnnx, selectIndices, selectSubset, setThreads, sgemm, sgemmSync, specFromOnnx, subsetDataset, subsetSize,
  summarize, tensorElements, toMatrix, topoOrder, topoOrderIndices, valueInfo, valueSummary, verifyManifest,
  withExtraOutputs, writeNpy, writeReport,
} = api;
