/*
 * queuefs.h - project-wide constants and the pinned libfuse API version
 *
 * Every source file that talks to libfuse includes this header first, so
 * that the whole daemon is compiled against one API level: libfuse 3.14 as
 * packaged by Debian 12.
 */
#ifndef QUEUEFS_H
#define QUEUEFS_H

/* The macro must match fuse_common.h token for token. */
/* clang-format off */
#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 14)
#ifndef FUSE_MAKE_VERSION
#define FUSE_MAKE_VERSION(maj, min)  ((maj) * 100 + (min))
#endif
/* clang-format on */

#define QFS_VERSION "0.1.0"

#define QFS_MAX_CLASSES	 16 /* classes in one config */
#define QFS_MAX_SHARDS	 64 /* shards in one class */
#define QFS_MAX_BACKINGS 64 /* backing roots in one mount */
#define QFS_MAX_GLOBS	 32 /* match globs in one class */
#define QFS_MAX_PINS	 64 /* pin rules in one class */
#define QFS_MAX_KEYOPS	 8  /* key transforms in one class */
#define QFS_MAX_ALTS	 8  /* alternatives in one key transform */

/*
 * Longest path inside the mount that queuefs handles. PATH_MAX limits one
 * system call's argument, not how deep a tree goes (a process may chdir
 * down and go on), so the mount-relative paths kept for routing get room
 * for several PATH_MAX.
 */
#define QFS_PATH_MAX (4 * 4096)

/* Name of the hidden per-backing directory (manifest, quarantine). */
#define QFS_META_NAME ".queuefs"

#endif
