"""WP2 at diagnosis: habitats and the patient image signature, its association with molecular
markers, the aggressiveness map and aggressive subregion, and the biopsy target
(`gliopet signature`, `gliopet biopsy`)."""
