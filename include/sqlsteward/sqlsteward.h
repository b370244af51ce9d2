// Everything a user of sqlsteward includes.
#ifndef SQLSTEWARD_SQLSTEWARD_H_
#define SQLSTEWARD_SQLSTEWARD_H_

#include "sqlsteward/database.h"
#include "sqlsteward/instances.h"
#include "sqlsteward/metrics.h"
#include "sqlsteward/migrator.h"
#include "sqlsteward/options.h"
#include "sqlsteward/probe.h"
#include "sqlsteward/snapshot.h"
#include "sqlsteward/status.h"
#include "sqlsteward/transaction.h"

#endif  // SQLSTEWARD_SQLSTEWARD_H_
