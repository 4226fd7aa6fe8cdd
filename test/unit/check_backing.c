/*
 * NAME
 *	check_backing - unit tests of backing roots and manifests
 * DESCRIPTION
 *	Each test builds backing directories under a private mkdtemp
 *	directory, loads a small sendmail-preset config and opens the layout
 *	the way a mount does: first-mount initialisation, remount with the
 *	same ids, and every refusal (missing root, foreign root, non-empty
 *	root without manifest, emptied disk, changed layout without migrate,
 *	class mismatch, malformed manifest), plus the volatile re-init and the
 *	migrate path. Also the st_ino composition.
 * DIAGNOSTICS
 *	Failures read "got X, want Y".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "backing.h"
#include "conf.h"

Suite *backing_suite(void);

static char base[64]; /* one per run, removed by the unchecked teardown */
static char dir[96];  /* one per test, inside BASE */

/* run - a shell command for fixture set-up; fails the test if it fails */
static void run(const char *fmt, const char *arg)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), fmt, arg, arg, arg, arg, arg, arg);
	ck_assert_msg(system(cmd) == 0, "command failed: %s", cmd);
}

/* base_setup - the run's private directory (unchecked: its teardown always runs) */
static void base_setup(void)
{
	strcpy(base, "/tmp/check_backing.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
}

static void base_teardown(void)
{
	run("rm -rf %s", base);
}

/* setup - fresh, empty roots for one test */
static void setup(void)
{
	snprintf(dir, sizeof(dir), "%s/t.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	run("mkdir -p %s/c1 %s/c2 %s/c3 %s/d1 %s/x1 %s/c4", dir);
}

/* load - a config over the test roots; EXTRA adds lines to the control class */
static void load_data(struct conf *c, const char *control, const char *data, int migrate)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/q.conf", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"preset = sendmail\n[class control]\nshards = %s\n[class data]\nshards = %s\n"
		"[class transcript]\nshards = %s/x1\n",
		control, data, dir);
	fclose(f);
	conf_init(c);
	ck_assert_int_eq(conf_load(c, path, stderr), 0);
	c->migrate = migrate;
}

/* load - the usual config: control shards CONTROL, data on DIR/d1 */
static void load(struct conf *c, const char *control, int migrate)
{
	char data[256];

	snprintf(data, sizeof(data), "%s/d1", dir);
	load_data(c, control, data, migrate);
}

/* open_layout - backing_layout_open with the error text captured in ERRS */
static int open_layout(struct layout *l, struct conf *c, char *errs, size_t len)
{
	FILE *f = fmemopen(errs, len, "w");
	int r;

	ck_assert_ptr_nonnull(f);
	r = backing_layout_open(l, c, f);
	fclose(f);
	return r;
}

/* three_controls - "DIR/c1 DIR/c2 DIR/c3" */
static void three_controls(char *buf, size_t len)
{
	snprintf(buf, len, "%s/c1 %s/c2 %s/c3", dir, dir, dir);
}

/* mount_once - a first mount, closed again; leaves initialised roots */
static void mount_once(void)
{
	static struct layout l;
	struct conf c;
	char ctl[1024], errs[4096] = "";

	three_controls(ctl, sizeof(ctl));
	load(&c, ctl, 0);
	ck_assert_msg(open_layout(&l, &c, errs, sizeof(errs)) == 0, "first mount refused: %s", errs);
	backing_layout_close(&l);
	conf_free(&c);
}

START_TEST(test_ino_compose)
{
	struct backing b = { .id = 0 };
	uint64_t ino;

	ck_assert_uint_eq(backing_ino(&b, 12), (UINT64_C(1) << 48) | 12);
	b.id = 4;
	ck_assert_uint_eq(backing_ino(&b, 12), (UINT64_C(5) << 48) | 12);
	ino = backing_ino(&b, UINT64_C(1) << 50);
	ck_assert_msg(ino >> 48 == 5, "folded inode has high bits %llx, want 5",
		      (unsigned long long)(ino >> 48));
}
END_TEST

START_TEST(test_first_mount_and_remount)
{
	static struct layout l;
	struct manifest m;
	struct conf c;
	char ctl[1024], errs[4096] = "", path[128];
	int fd;

	mount_once();
	/* Ids follow config order on the first mount. */
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/c%d", dir, i + 1);
		fd = open(path, O_PATH | O_DIRECTORY);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(backing_manifest_read(fd, &m), 0);
		close(fd);
		ck_assert_str_eq(m.cls, "control");
		ck_assert_uint_eq(m.id, (unsigned)i);
		ck_assert_uint_eq(m.shard_id, (unsigned)i);
		ck_assert_uint_eq(m.generation, 1);
		ck_assert_uint_eq(strlen(m.fsid), 32);
	}
	/* A remount keeps them. */
	three_controls(ctl, sizeof(ctl));
	load(&c, ctl, 0);
	ck_assert_msg(open_layout(&l, &c, errs, sizeof(errs)) == 0, "remount refused: %s", errs);
	ck_assert_int_eq(l.n, 5);
	ck_assert_uint_eq(l.b[3].id, 3);
	ck_assert_str_eq(l.b[3].path, c.classes[1].shards[0]);
	ck_assert_uint_eq(l.generation, 1);
	backing_layout_close(&l);
	conf_free(&c);
}
END_TEST

/* expect_refusal - open the layout, want a refusal whose text contains WANT */
static void expect_refusal(const char *control, int migrate, const char *want)
{
	static struct layout l;
	struct conf c;
	char errs[4096] = "";

	load(&c, control, migrate);
	ck_assert_int_eq(open_layout(&l, &c, errs, sizeof(errs)), -EINVAL);
	ck_assert_msg(strstr(errs, want), "got error text \"%s\", want it to contain \"%s\"", errs, want);
	conf_free(&c);
}

START_TEST(test_refuse_missing_root)
{
	char ctl[1024];

	snprintf(ctl, sizeof(ctl), "%s/c1 %s/nonexistent", dir, dir);
	expect_refusal(ctl, 0, "nonexistent (class control): No such file or directory");
}
END_TEST

START_TEST(test_refuse_nonempty_without_manifest)
{
	char ctl[1024];

	run("echo junk > %s/c2/stray", dir);
	three_controls(ctl, sizeof(ctl));
	expect_refusal(ctl, 0, "c2: not empty and not a queuefs backing");
}
END_TEST

START_TEST(test_refuse_empty_disk)
{
	char ctl[1024];

	mount_once();
	run("rm -rf %s/c2/.queuefs", dir);
	three_controls(ctl, sizeof(ctl));
	expect_refusal(ctl, 0, "c2: empty, but this queuefs already has data: is the disk mounted?");
}
END_TEST

START_TEST(test_refuse_foreign_root)
{
	static struct layout l;
	struct conf c;
	char ctl[1024], errs[4096] = "";

	mount_once();
	/* A second queuefs on c4 (same shape), then swap it in for c2. */
	run("mkdir -p %s/other && mv %s/c4 %s/other/c1", dir);
	run("mkdir -p %s/other/c2 %s/other/c3 %s/other/d1 %s/other/x1", dir);
	snprintf(ctl, sizeof(ctl), "%s/other/c1 %s/other/c2 %s/other/c3", dir, dir, dir);
	load(&c, ctl, 0);
	snprintf(errs, sizeof(errs), "%s/other/d1", dir);
	free(c.classes[1].shards[0]);
	c.classes[1].shards[0] = strdup(errs);
	snprintf(errs, sizeof(errs), "%s/other/x1", dir);
	free(c.classes[2].shards[0]);
	c.classes[2].shards[0] = strdup(errs);
	errs[0] = 0;
	ck_assert_msg(open_layout(&l, &c, errs, sizeof(errs)) == 0, "other mount refused: %s", errs);
	backing_layout_close(&l);
	conf_free(&c);
	snprintf(ctl, sizeof(ctl), "%s/c1 %s/other/c2 %s/c3", dir, dir, dir);
	expect_refusal(ctl, 0, "other/c2: belongs to another queuefs");
}
END_TEST

START_TEST(test_volatile_reinit)
{
	static struct layout l;
	struct conf c;
	char ctl[1024], errs[4096] = "";

	mount_once();
	run("rm -rf %s/x1/.queuefs", dir); /* tmpfs after a reboot */
	three_controls(ctl, sizeof(ctl));
	load(&c, ctl, 0);
	ck_assert_msg(open_layout(&l, &c, errs, sizeof(errs)) == 0, "volatile re-init refused: %s", errs);
	ck_assert_uint_eq(l.b[4].id, 4);
	ck_assert_uint_eq(l.b[4].shard_id, 0);
	backing_layout_close(&l);
	conf_free(&c);
}
END_TEST

START_TEST(test_add_shard_needs_migrate)
{
	static struct layout l;
	struct manifest m;
	struct conf c;
	char ctl[1024], errs[4096] = "";
	int fd;

	mount_once();
	snprintf(ctl, sizeof(ctl), "%s/c1 %s/c2 %s/c3 %s/c4", dir, dir, dir, dir);
	expect_refusal(ctl, 0, "c4: empty, but this queuefs already has data");
	load(&c, ctl, 1);
	ck_assert_msg(open_layout(&l, &c, errs, sizeof(errs)) == 0, "migrate refused: %s", errs);
	ck_assert_uint_eq(l.b[3].id, 5);
	ck_assert_uint_eq(l.b[3].shard_id, 3);
	ck_assert_uint_eq(l.generation, 2);
	backing_layout_close(&l);
	conf_free(&c);
	/* Every manifest now records the new generation. */
	snprintf(errs, sizeof(errs), "%s/d1", dir);
	fd = open(errs, O_PATH | O_DIRECTORY);
	ck_assert_int_eq(backing_manifest_read(fd, &m), 0);
	close(fd);
	ck_assert_uint_eq(m.generation, 2);
	ck_assert_msg(strstr(m.layout, "control/3/5"), "got layout \"%s\", want control/3/5 in it", m.layout);
}
END_TEST

START_TEST(test_remove_shard_needs_migrate)
{
	char ctl[1024];

	mount_once();
	snprintf(ctl, sizeof(ctl), "%s/c1 %s/c2", dir, dir);
	expect_refusal(ctl, 0, "layout changed");
}
END_TEST

START_TEST(test_class_mismatch)
{
	static struct layout l;
	struct conf c;
	char ctl[1024], data[256], errs[4096] = "";

	mount_once();
	/* d1 (a data root) named as a control shard; a fresh root for data. */
	run("mkdir -p %s/d9", dir);
	snprintf(ctl, sizeof(ctl), "%s/c1 %s/d1 %s/c3", dir, dir, dir);
	snprintf(data, sizeof(data), "%s/d9", dir);
	load_data(&c, ctl, data, 0);
	ck_assert_int_eq(open_layout(&l, &c, errs, sizeof(errs)), -EINVAL);
	ck_assert_msg(strstr(errs, "manifest says class data, config says class control"), "got \"%s\"",
		      errs);
	conf_free(&c);
}
END_TEST

START_TEST(test_malformed_manifest)
{
	char ctl[1024];

	mount_once();
	run("echo 'queuefs-manifest 1' > %s/c3/.queuefs/manifest && echo 'fsid = zz' >> "
	    "%s/c3/.queuefs/manifest",
	    dir);
	three_controls(ctl, sizeof(ctl));
	expect_refusal(ctl, 0, "c3: unreadable manifest .queuefs/manifest: malformed");
}
END_TEST

Suite *backing_suite(void)
{
	Suite *s = suite_create("backing");
	TCase *tc = tcase_create("manifest");

	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_ino_compose);
	tcase_add_test(tc, test_first_mount_and_remount);
	tcase_add_test(tc, test_refuse_missing_root);
	tcase_add_test(tc, test_refuse_nonempty_without_manifest);
	tcase_add_test(tc, test_refuse_empty_disk);
	tcase_add_test(tc, test_refuse_foreign_root);
	tcase_add_test(tc, test_volatile_reinit);
	tcase_add_test(tc, test_add_shard_needs_migrate);
	tcase_add_test(tc, test_remove_shard_needs_migrate);
	tcase_add_test(tc, test_class_mismatch);
	tcase_add_test(tc, test_malformed_manifest);
	suite_add_tcase(s, tc);
	return s;
}
