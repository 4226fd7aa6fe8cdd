/*
 * NAME
 *	check_main - run every unit test suite of queuefs
 * DESCRIPTION
 *	One runner for the suites of the pure modules (conf, route) and of
 *	the backing layer. CK_FORK=no runs them in one process, for
 *	valgrind and debuggers.
 * DIAGNOSTICS
 *	Check's own report on stdout; the exit status is nonzero when any
 *	test failed.
 */
#include <stdlib.h>

#include <check.h>

Suite *conf_suite(void);
Suite *route_suite(void);
Suite *backing_suite(void);

/* main - run all suites, fail if any test failed */
int main(void)
{
	SRunner *sr = srunner_create(conf_suite());
	int failed;

	srunner_add_suite(sr, route_suite());
	srunner_add_suite(sr, backing_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
