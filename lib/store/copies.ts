/** The copy each variant of a campaign was sent with, as the copy cache holds it (one per step, variant, language and tone). */
import type { EmailCopy } from '../schemas';
import { driverOf, type CampaignStore } from './campaignStore';

export interface VariantCopy {
	step: number;
	variant: string;
	language: string;
	tone: string;
	copy: EmailCopy;
	model: string | null;
	created_at: string;
}

/** The newest copy of each (step, variant, language), at most 50. */
export async function variantCopies(store: CampaignStore, campaignId: string): Promise<VariantCopy[]> {
	const r = await driverOf(store).query<VariantCopy>(
		`SELECT DISTINCT ON (step, variant, language) step, variant, language, tone, copy, model, created_at::text
		 FROM eca_copy_cache WHERE campaign_id = $1 ORDER BY step, variant, language, created_at DESC LIMIT 50`,
		[campaignId],
	);
	return r.rows;
}

