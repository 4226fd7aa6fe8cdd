/*
 * log.h - the one logging module
 *
 * Four verbs, as in OpenSMTPD: log_warn appends strerror of an explicit
 * error number, log_warnx does not; fatal/fatalx exit and are for start-up
 * only. Messages go to stderr in the foreground and to syslog otherwise.
 */
#ifndef QFS_LOG_H
#define QFS_LOG_H

#include <stdbool.h>

void log_init(bool foreground, bool debug);
void log_to_syslog(void);
bool log_debug_enabled(void);

void log_warn(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
