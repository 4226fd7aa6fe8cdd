/*
 * NAME
 *	log - the one logging module of queuefs
 * DESCRIPTION
 *	Every message of the daemon leaves through here: to stderr while the
 *	daemon runs in the foreground, to syslog (facility daemon) once it has
 *	detached. Messages read "function: operation object: reason".
 * DIAGNOSTICS
 *	fatal() and fatalx() exit(1); they are meant for start-up only. At run
 *	time callers warn and return -errno instead.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

static bool log_stderr = true;
static bool log_debugging;

/* log_init - choose the destination and verbosity once, at start-up */
void log_init(bool foreground, bool debug)
{
	log_stderr = foreground;
	log_debugging = debug;
	if (!foreground)
		openlog("queuefs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* log_to_syslog - switch to syslog after the daemon has detached */
void log_to_syslog(void)
{
	if (log_stderr)
		openlog("queuefs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_stderr = false;
}

/* log_debug_enabled - cheap test before building an expensive message */
bool log_debug_enabled(void)
{
	return log_debugging;
}

/* log_emit - format once, then write to the chosen destination */
static void log_emit(int prio, int err, const char *fmt, va_list ap)
{
	char msg[1024];
	char ebuf[128];
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (err > 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror_r(err, ebuf, sizeof(ebuf)));
	if (log_stderr)
		fprintf(stderr, "queuefs: %s\n", msg);
	else
		syslog(prio, "%s", msg);
}

void log_warn(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, err < 0 ? -err : err, fmt, ap);
	va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, 0, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_INFO, 0, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_debugging)
		return;
	va_start(ap, fmt);
	log_emit(LOG_DEBUG, 0, fmt, ap);
	va_end(ap);
}

void fatal(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_ERR, err < 0 ? -err : err, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
