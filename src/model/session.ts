import * as ort from 'onnxruntime-node';
import { ServiceError } from '../errors';
import type { ModelContract } from './contract';

export interface ScoringModel {
  readonly contract: ModelContract;
  readonly session: ort.InferenceSession;
  readonly scoreOutput: string;
  readonly labelOutput: string;
  readonly positiveClassIndex: number;
}

export interface SessionOptions {
  readonly intraOpThreads: number;
  readonly scoreOutput: string;
  readonly labelOutput: string;
  readonly positiveClassIndex: number;
}

export async function loadModel(modelPath: string, contract: ModelContract, options: SessionOptions): Promise<ScoringModel> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelPath, {
      intraOpNumThreads: options.intraOpThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // Spinning threads burn a core waiting for work; on a small machine Kafka I/O needs it more.
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
  } catch (error) {
    throw new ServiceError('MODEL_INVALID', `MODEL_PATH=${modelPath}: onnxruntime cannot load it (${(error as Error).message})`, { cause: error });
  }
  for (const [setting, name] of [['MODEL_SCORE_OUTPUT', options.scoreOutput], ['MODEL_LABEL_OUTPUT', options.labelOutput]] as const) {
    if (!session.outputNames.includes(name)) {
      throw new ServiceError('CONTRACT_MISMATCH', `${setting}=${name}: the model has no such output (it has ${session.outputNames.join(', ')}). Export classifiers with zipmap disabled.`);
    }
  }
  return { contract, session, ...options };
}
