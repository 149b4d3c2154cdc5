/* The one argmax every decision in mgc (live, offline, training) is made with. */
#ifndef MGC_ARGMAX_H
#define MGC_ARGMAX_H

/* The index of the largest of p[0..n), the lowest among equal maxima (as
 * NumPy's argmax). */
int mgc_argmax(const float *p, int n);
/* The same for doubles (sums of probabilities). */
int mgc_argmax_double(const double *p, int n);

#endif
