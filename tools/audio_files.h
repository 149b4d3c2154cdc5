/* The audio files named on a command line: files as given, directories
 * searched recursively for audio files (by extension), each directory's
 * entries in byte order, so that a run is repeatable. Shared by the tools
 * that take recordings. */
#ifndef MGC_TOOLS_AUDIO_FILES_H
#define MGC_TOOLS_AUDIO_FILES_H

typedef struct mgc_path_list {
  char **v;
  int n, cap;
} mgc_path_list;

/* Append `path` (a file, kept even when missing so that reading it reports
 * the error) or every audio file under it. Returns -1 when out of memory. */
int mgc_path_list_add(mgc_path_list *l, const char *path);
void mgc_path_list_free(mgc_path_list *l);

#endif
