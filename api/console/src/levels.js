// Warning levels (China's four tiers) and hazard types: colours, names and map symbols.

export const LEVELS = ["none", "blue", "yellow", "orange", "red"];
export const TIER = { none: "", blue: "IV", yellow: "III", orange: "II", red: "I" };
export const COLOUR = {
  none: "#7d8590", blue: "#1f6fd6", yellow: "#e8c21a", orange: "#f07c00", red: "#d7191c",
};
export const HAZARD_LABEL = {
  landslide: "landslide", collapse: "collapse", debris_flow: "debris flow",
  subsidence: "subsidence", ground_fissure: "ground fissure",
};
/** The shape drawn for each hazard type (see icons.js). */
export const HAZARD_SHAPE = {
  landslide: "triangle", collapse: "square", debris_flow: "diamond",
  subsidence: "ring", ground_fissure: "bar",
};

export const levelRank = (level) => Math.max(0, LEVELS.indexOf(level));
export const isUrgent = (level) => level === "orange" || level === "red";
export const levelName = (level) => (TIER[level] ? `${TIER[level]} ${level}` : level ?? "none");
