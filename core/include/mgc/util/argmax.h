/* The one argmax every decision in mgc (live, offline, training) is made with. */
#ifndef MGC_ARGMAX_H
#define MGC_ARGMAX_H

/* The index of the largest of p[0..n), the lowest among equal maxima (as
 * NumPy's argmax). */
int mgc_argmax(const float *p, int n);

#endif
