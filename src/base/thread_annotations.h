// Lock contracts the compiler checks: clang's -Wthread-safety analysis
// (clang.llvm.org/docs/ThreadSafetyAnalysis.html), as abseil and leveldb
// spell it. A member written under a mutex says GUARDED_BY(mu_); a function
// that must be called with it held says REQUIRES(mu_), one that takes it
// itself EXCLUDES(mu_). Other compilers see empty macros.
//
// Only sqlsteward::Mutex (base/mutex.h) carries the capability attribute:
// std::mutex in libstdc++ does not, so annotated members use Mutex.
#ifndef SQLSTEWARD_BASE_THREAD_ANNOTATIONS_H_
#define SQLSTEWARD_BASE_THREAD_ANNOTATIONS_H_

#if defined(__clang__)
#define SQLSTEWARD_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define SQLSTEWARD_THREAD_ANNOTATION_(x)
#endif

#define CAPABILITY(x) SQLSTEWARD_THREAD_ANNOTATION_(capability(x))
#define SCOPED_CAPABILITY SQLSTEWARD_THREAD_ANNOTATION_(scoped_lockable)
#define GUARDED_BY(x) SQLSTEWARD_THREAD_ANNOTATION_(guarded_by(x))
#define PT_GUARDED_BY(x) SQLSTEWARD_THREAD_ANNOTATION_(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) SQLSTEWARD_THREAD_ANNOTATION_(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) SQLSTEWARD_THREAD_ANNOTATION_(acquired_after(__VA_ARGS__))
#define REQUIRES(...) SQLSTEWARD_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) SQLSTEWARD_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#define RELEASE(...) SQLSTEWARD_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) SQLSTEWARD_THREAD_ANNOTATION_(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) SQLSTEWARD_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) SQLSTEWARD_THREAD_ANNOTATION_(assert_capability(x))
#define RETURN_CAPABILITY(x) SQLSTEWARD_THREAD_ANNOTATION_(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS SQLSTEWARD_THREAD_ANNOTATION_(no_thread_safety_analysis)

#endif  // SQLSTEWARD_BASE_THREAD_ANNOTATIONS_H_
