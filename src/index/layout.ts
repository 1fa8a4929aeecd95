/** Where LEFT keeps its own state inside a share; this folder is never scanned nor synchronized. */
export const LEFT_DIR = ".left";
