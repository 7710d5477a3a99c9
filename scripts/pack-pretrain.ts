/**
 * Pack a pretraining run's checkpoint beside the model it produced (src/pretrain/packed.ts), so a fresh
 * clone can continue with `prilora pretrain --from <model dir> …same recipe…`:
 *
 *   npx tsx scripts/pack-pretrain.ts runs/pretrain assets/models/default
 */
import { packState } from '../src/pretrain/packed.ts';

const [run, modelDir] = process.argv.slice(2);
if (!run || !modelDir) throw new Error('usage: npx tsx scripts/pack-pretrain.ts <run dir> <model dir>');
console.log(`packed ${packState(run, modelDir)}`);
