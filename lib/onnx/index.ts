/** The ONNX layer: load / check / summarise / save models, build small ones, expose and pick probe tensors. */
export * from './model.ts';
export * from './build.ts';
export * from './probes.ts';
export { checkModel, inlineExternalData, tensorElements, MAX_DIM, MAX_ELEMENTS, MAX_RANK, type CheckOptions, type ExternalOptions } from './safety.ts';
