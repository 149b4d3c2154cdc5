/* The report's files: mgc_report_write (mgc/report/report.h). */
#include "report_impl.h"
#include "mgc/util/mkdirs.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- files ---- */

/* Write through a temporary name and rename, so a reader never sees half a
 * page. */
mgc_status mgc_report_write_file(const char *dir, const char *name, const mgc_sbuf *b) {
  char path[4096], tmp[4100];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
    return mgc_error_set(MGC_EINVAL, "report directory name is too long");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return mgc_error_set(MGC_EIO, "cannot write %s: %s", tmp, strerror(errno));
  size_t w = fwrite(b->p, 1, b->n, f);
  int bad = w != b->n || ferror(f);
  if (fclose(f) != 0) bad = 1;
  if (bad || rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return mgc_error_set(MGC_EIO, "cannot write %s: %s", path, strerror(e));
  }
  return MGC_OK;
}

mgc_status mgc_report_write(const char *dir, const char *title, const char *model_info,
                            const mgc_metrics *m, const char *curves_csv,
                            const mgc_report_extra *extras, int n_extras) {
  if (!dir || !*dir || !m) return mgc_error_set(MGC_EINVAL, "report: no directory or no figures");
  if (n_extras < 0 || (n_extras > 0 && !extras))
    return mgc_error_set(MGC_EINVAL, "report: bad list of extra conditions");
  for (int i = 0; i < n_extras; i++)
    if (!extras[i].label || !extras[i].m)
      return mgc_error_set(MGC_EINVAL, "report: extra condition %d has no label or no figures", i);
  if (!title) title = "mgc model";

  mgc_curves cv;
  mgc_status st = mgc_curves_read(curves_csv, &cv);
  if (st != MGC_OK) return mgc_error_prefix(st, "report: learning curves: ");

  enum { N_OUT = 5 };
  static const char *const names[N_OUT] = {"confusion.svg", "per_class.svg", "reliability.svg",
                                           "curves.svg", "index.html"};
  mgc_sbuf out[N_OUT];
  memset(out, 0, sizeof out);
  mgc_svg_confusion(&out[0], m, 1);
  mgc_svg_per_class(&out[1], m, 1);
  mgc_svg_reliability(&out[2], m, 1, NULL);
  if (cv.n) mgc_svg_curves(&out[3], &cv, 1);
  mgc_html_page(&out[4], title, model_info, m, &cv, extras, n_extras);
  mgc_curves_free(&cv);

  for (int i = 0; i < N_OUT && st == MGC_OK; i++)
    if (out[i].oom) st = mgc_error_set(MGC_ENOMEM, "report: out of memory");
  if (st == MGC_OK) st = mgc_mkdirs(dir);
  for (int i = 0; i < N_OUT && st == MGC_OK; i++) {
    if (i == 3 && !out[i].n) {
      /* A curves.svg left by an earlier report would belong to another model. */
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", dir, names[i]);
      if (unlink(path) != 0 && errno != ENOENT)
        st = mgc_error_set(MGC_EIO, "cannot remove the stale %s: %s", path, strerror(errno));
      continue;
    }
    st = mgc_report_write_file(dir, names[i], &out[i]);
  }
  for (int i = 0; i < N_OUT; i++) free(out[i].p);
  return st;
}
