#include "fftw_lock.h"

#include <pthread.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

void mgc_fftw_planner_lock(void) { pthread_mutex_lock(&g_lock); }
void mgc_fftw_planner_unlock(void) { pthread_mutex_unlock(&g_lock); }
