/*
 * Assertions for dmacheck's C test programs (tests/c_abi.rs compiles and runs them).
 *
 * EXPECT(statement, "rule-id", ...) runs the statement and checks that it reported exactly the
 * listed violations: each listed rule's count rose by the number of times it is listed, and the
 * total by the length of the list. CLEAN(statement) checks that it reported nothing. CHECK(cond)
 * checks a condition. Failures are printed; finish() prints the totals and gives main's exit
 * status (1 if anything failed).
 */
#ifndef DMACHECK_TEST_EXPECT_H
#define DMACHECK_TEST_EXPECT_H

#include <stdio.h>
#include <string.h>

#include <dmacheck.h>

#define EXPECT_MAX_RULES 8

static int expect_failures;

struct expect_before {
	unsigned long total;
	unsigned long counts[EXPECT_MAX_RULES];
};

static inline void expect_snapshot(const char *const *ids, struct expect_before *b)
{
	b->total = dmacheck_error_count();
	for (int i = 0; ids[i] && i < EXPECT_MAX_RULES; i++)
		b->counts[i] = dmacheck_violation_count(ids[i]);
}

static inline void expect_verify(const char *what, int line, const char *const *ids,
				 const struct expect_before *b)
{
	int n = 0;

	for (; ids[n] && n < EXPECT_MAX_RULES; n++) {
		unsigned long times = 0, got;

		for (int j = 0; ids[j]; j++)
			times += strcmp(ids[j], ids[n]) == 0;
		got = dmacheck_violation_count(ids[n]) - b->counts[n];
		if (dmacheck_violation_count(ids[n]) == (unsigned long)-1 || got != times) {
			fprintf(stderr, "FAIL line %d: %s: %s: expected %lu, got %lu\n", line, what,
				ids[n], times, got);
			expect_failures++;
		}
	}
	if (dmacheck_error_count() - b->total != (unsigned long)n) {
		fprintf(stderr, "FAIL line %d: %s: expected %d violation(s) in all, got %lu\n",
			line, what, n, dmacheck_error_count() - b->total);
		expect_failures++;
	}
}

#define EXPECT(stmt, ...)							\
	do {									\
		const char *const expect_ids_[] = { __VA_ARGS__, NULL };	\
		struct expect_before expect_b_;					\
		expect_snapshot(expect_ids_, &expect_b_);			\
		stmt;								\
		expect_verify(#stmt, __LINE__, expect_ids_, &expect_b_);	\
	} while (0)

#define CLEAN(stmt)								\
	do {									\
		const char *const expect_ids_[] = { NULL };			\
		struct expect_before expect_b_;					\
		expect_snapshot(expect_ids_, &expect_b_);			\
		stmt;								\
		expect_verify(#stmt, __LINE__, expect_ids_, &expect_b_);	\
	} while (0)

#define CHECK(cond)								\
	do {									\
		if (!(cond)) {							\
			fprintf(stderr, "FAIL line %d: %s\n", __LINE__, #cond);	\
			expect_failures++;					\
		}								\
	} while (0)

/* Print the totals (the runner reads them) and give main's exit status. */
static inline int finish(void)
{
	printf("errors %lu\nlive %lu\nfailures %d\n", dmacheck_error_count(),
	       dmacheck_live_entries(NULL), expect_failures);
	return expect_failures ? 1 : 0;
}

#endif /* DMACHECK_TEST_EXPECT_H */
