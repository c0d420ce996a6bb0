/*
 * shardjob: claim / checkpoint / commit / failover of shards, AS BUILT in
 * kernel/coordination/shard_ledger.{h,cc}, job_coordinator*.cc and
 * kernel/execution/job_runtime.cc. Promela, for SPIN 6.5.
 * README.md next to this file says what is modelled, what is left out, the
 * bounds, and what each check shows.
 *
 * One job; NS shards; NF scheduled fires with increasing ids 0..NF-1 (like
 * the epoch-millisecond fire ids); NP instance processes. A process has one
 * ZooKeeper session at a time and, in the model, runs one fire of the job at
 * a time (the code runs at most one per shard; README says why that is the
 * same for every per-shard property).
 *
 * ZooKeeper is one linearizable store. A multi is one atomic step: its ops
 * are checked in order and it applies all or nothing, as one transaction
 * (one zxid). The znodes of shard k:
 *   state  persistent; the code never deletes it.
 *            st_ver  dataVersion             st_mz  mzxid
 *            st_done committed_fire + 1 (0: none). With one family of fire
 *                    ids the watermark done_scheduled is the committed fire,
 *                    so AlreadyDone(F) is "F < st_done".
 *            st_cl   claimed_fire + 1 (0: none; a commit writes none)
 *            st_ctok committed_token
 *   lease  ephemeral: ls_ex (exists), ls_own (ephemeralOwner), ls_cz (czxid,
 *          the fencing token), ls_nn (nonce, see claim_multi)
 *
 * Each step of a thread is one atomic block that makes ONE ZooKeeper call
 * (or none) and then takes the thread's local decisions, so that other
 * threads and faults interleave between calls, as in the code. Values read
 * and used in the same step live in scratch variables that every step leaves
 * at 0.
 *
 * Compile-time switches (-DNAME=value); README.md lists the checks.
 *   NP NS NF                 processes (2), shards (2), fires (2)
 *   MAXCRASH MAXEXP MAXCL    fault budgets: kill -9 (1), session expiry of a
 *                            live process (1), lost multi replies (1)
 *   ASSIGN=1   a fire's shards are any non-empty subset (the assignment
 *              moves); 0: every fire is for every shard
 *   FAILOVER=1 idle instances fail orphaned claims over
 *   CKPT=0     1: a runner may write one checkpoint per fire. NOT in the
 *              code: the form a checkpoint has to take, see README
 *   RECREATE=0 1: the job is deleted and re-created once, at any moment
 *   MAXREL=1   budget of tasks that stop on their cancellation flag (claims
 *              lost, or shutdown): released instead of committed
 *   LIVENESS=0 1: for G1; instances never stop (safety checks: they may)
 *   PROP_LIVE=2  which runners G3a/G4 count as live. 1: its process is up
 *              and the session of its claim alive, so nothing has told it
 *              (or could tell it) that its claim is lost. 0: the lease its
 *              claim created still exists. 2 (default): both checked, i.e.
 *              a violation in either sense fails.
 *   PROP_REPORT=0  1: check the outcome a runner reports (committed/fenced);
 *              2: only the reports Commit makes at its entry
 *   PROP_STALE=1   check that ReleaseOwnStaleLease never deletes a lease
 *              whose claim a runner still holds
 *   PROP_ENTRY=1   check that Commit refuses a claim of another session
 *              (no request) only when that claim's lease is gone
 *   The BROKEN_* switches put back behaviours the code had before, or could
 *   plausibly get; each must make a check fail:
 *   BROKEN_CLAIM_SESSION  a claim records the session ClaimFire started on,
 *              not the one its multi went on (the code before the fix)
 *   BROKEN_STALE_DELETE   ReleaseOwnStaleLease reads the lease and deletes it
 *              with delete(lease, version read), no state guard (the code
 *              before the fix)
 *   BROKEN_ENTRY_NO_RESOLVE  Commit refuses a claim of another session
 *              without first looking whether its unknown commit landed (the
 *              code before the fix; shows with PROP_REPORT only)
 *   BROKEN_RESEND_ON_NEW_SESSION  after SESSIONEXPIRED the commit is sent
 *              again, on the new session, guarded by a version re-read then
 *   BROKEN_NO_LEASE_DELETE        the commit multi does not delete the lease
 *   BROKEN_CKPT_NO_LEASE_CHECK    a checkpoint is a plain guarded setData
 *   BROKEN_RECREATE_RESETS_STATE  re-creation deletes the state znodes too
 *   BROKEN_OVERLAP  process 0 may start a fire of a shard while its previous
 *              fire of that shard still runs (two threads, one session)
 *   FIX_REPORT=0  1: a proposal, NOT in the code: "fenced" only when the
 *              refusal is certain, "unknown" otherwise (README, finding 1)
 */

#ifndef NP
#define NP 2
#endif
#ifndef NS
#define NS 2
#endif
#ifndef NF
#define NF 2
#endif
#ifndef MAXCRASH
#define MAXCRASH 1
#endif
#ifndef MAXEXP
#define MAXEXP 1
#endif
#ifndef MAXCL
#define MAXCL 1
#endif
#ifndef ASSIGN
#define ASSIGN 1
#endif
#ifndef FAILOVER
#define FAILOVER 1
#endif
#ifndef CKPT
#define CKPT 0
#endif
#ifndef RECREATE
#define RECREATE 0
#endif
#ifndef MAXREL
#define MAXREL 1
#endif
#ifndef LIVENESS
#define LIVENESS 0
#endif
#ifndef PROP_LIVE
#define PROP_LIVE 2
#endif
#ifndef PROP_REPORT
#define PROP_REPORT 0
#endif
#ifndef PROP_STALE
#define PROP_STALE 1
#endif
#ifndef PROP_ENTRY
#define PROP_ENTRY 1
#endif
#ifndef BROKEN_CLAIM_SESSION
#define BROKEN_CLAIM_SESSION 0
#endif
#ifndef BROKEN_STALE_DELETE
#define BROKEN_STALE_DELETE 0
#endif
#ifndef BROKEN_ENTRY_NO_RESOLVE
#define BROKEN_ENTRY_NO_RESOLVE 0
#endif
#ifndef BROKEN_RESEND_ON_NEW_SESSION
#define BROKEN_RESEND_ON_NEW_SESSION 0
#endif
#ifndef BROKEN_NO_LEASE_DELETE
#define BROKEN_NO_LEASE_DELETE 0
#endif
#ifndef BROKEN_CKPT_NO_LEASE_CHECK
#define BROKEN_CKPT_NO_LEASE_CHECK 0
#endif
#ifndef BROKEN_RECREATE_RESETS_STATE
#define BROKEN_RECREATE_RESETS_STATE 0
#endif
#ifndef BROKEN_OVERLAP
#define BROKEN_OVERLAP 0
#endif
#ifndef FIX_REPORT
#define FIX_REPORT 0
#endif

/* Threads: one per process. JobRuntime never runs two fires of one shard at
   once on an instance; the model's instance runs one fire at a time, which
   keeps each shard's operations sequential just the same. BROKEN_OVERLAP
   gives process 0 a second thread that ignores this. */
#if BROKEN_OVERLAP
#define NT (NP + 1)
#define PROC(t) ((t) == 0 -> 0 : (t) - 1)
#define PDONE(p) ((p) == 0 -> (fin[0] && fin[1]) : fin[(p) + 1])
#else
#define NT NP
#define PROC(t) (t)
#define PDONE(p) fin[p]
#endif

#define MAXSESS (NP + MAXEXP + 1)   /* session ids 1..; 0 = none */
#define BIT(k) (1 << (k))
#define HAS(m, k) (((m) >> (k)) & 1)
#define TASK(k, f) ((k) * NF + (f))
#define RI(t, k) ((t) * NS + (k))   /* (thread, shard) index */
#define LAST (NS - 1)
#define NONCE_NONE 255   /* a claim that never reached the server */

mtype = { OK, BADVERSION, NODEEXISTS, NONODE, CONNLOSS, SESSEXPIRED };

/* ---------------- ZooKeeper ---------------- */
byte zxid;
byte st_ver[NS], st_mz[NS], st_done[NS], st_cl[NS], st_ctok[NS];
bool ls_ex[NS];
byte ls_own[NS], ls_cz[NS], ls_nn[NS];
bool alive[MAXSESS];
byte nsess = NP + 1;          /* the next new session id */

/* ---------------- processes and faults ---------------- */
byte psess[NP];               /* the session the process's client has now */
bool crashed[NP];
byte ncrash, nexp, ncl, nrel;
byte inc;                     /* job incarnation, bumped by RECREATE */

/* ---------------- the claims each thread holds ----------------
   c_tok: fencing token; c_ver: the version the next guarded write of the
   runner uses; c_cse: the session the claim was made on; t_F, t_inc: the
   thread's fire and the job incarnation its claim was made in. g_run: the
   task of (thread, shard) executes (ghost). */
byte c_tok[NT * NS], c_ver[NT * NS], c_cse[NT * NS];
byte t_F[NT], t_inc[NT];
bool g_run[NT * NS];
bool fin[NT];                 /* the thread has stopped (safety checks only) */

/* ---------------- ghosts for the properties ---------------- */
#if PROP_REPORT
byte committed_by[NS * NF];   /* token of the applied commit */
#endif

/* Scratch inside one step. Every step leaves it 0, so it never tells two
   states apart. (Not `hidden`: pan does not restore hidden variables when it
   backtracks over a choice inside a step.) */
byte hk, hj, hlost;
byte r_ok, r_ver, r_mz, r_done, r_cl, r_ctok, r_ex, r_own, r_cz, r_nn;

/* Named assertions: pan's error line names the one that failed. Each flag
   is set, asserted and cleared in one go, so it is always 0 between steps. */
byte G2_one_commit_per_task, G3a_one_live_runner, G3b_token_increases,
     G3c_commit_from_lease_holder, G3c_checkpoint_from_lease_holder,
     G3c_release_of_own_lease, G4_no_overlapping_fires, REPORT_committed_is_true,
     REPORT_fenced_is_true, STALE_delete_hits_no_held_claim,
     ENTRY_refuses_only_lost_claims,
     MODEL_zxid_in_range;   /* not a property: the byte counters do not wrap */
#define CHECK(name, cond) name = (cond); assert(name); name = 0

/* Live runner, for G3a/G4. A runner of a deleted incarnation of the job is
   never live.
   LIVE_S (session): its process is up and the session of its claim alive, so
   nothing has told it (or could tell it) that its claim is lost.
   LIVE_L (lease): the lease its claim created still exists (czxid == its
   token), so no other claim of the shard can stand.
   LIVE2(a, b, k): runners a and b of shard k are both live in the sense(s)
   PROP_LIVE selects. */
#define LIVE_S(t, k) (g_run[RI(t, k)] && !crashed[PROC(t)] && alive[c_cse[RI(t, k)]] && t_inc[t] == inc)
#define LIVE_L(t, k) (g_run[RI(t, k)] && ls_ex[k] && ls_cz[k] == c_tok[RI(t, k)] && t_inc[t] == inc)
#if PROP_LIVE == 0
#define LIVE2(a, b, k) (LIVE_L(a, k) && LIVE_L(b, k))
#elif PROP_LIVE == 1
#define LIVE2(a, b, k) (LIVE_S(a, k) && LIVE_S(b, k))
#else
#define LIVE2(a, b, k) ((LIVE_S(a, k) && LIVE_S(b, k)) || (LIVE_L(a, k) && LIVE_L(b, k)))
#endif

/* Some live thread still holds the claim whose lease shard k has now: it
   claimed with that token and has not finished its commit or release. */
#define HOLDS(t, k) (c_tok[RI(t, k)] == ls_cz[k] && !crashed[PROC(t)])
#define HELD(k) (HOLDS(0, k) || (NT > 1 && HOLDS(NT > 1 -> 1 : 0, k)) || (NT > 2 && HOLDS(NT > 2 -> 2 : 0, k)))

#define SETTLED (st_cl[0] == 0 && !ls_ex[0] && st_cl[LAST] == 0 && !ls_ex[LAST])

/* ---------------- a thread's client ----------------
   Every call goes on the session the client has NOW: after an expiry the
   client opens a new session by itself (Env below) and later calls go on it.
   On a dead session nothing is applied: a multi returns SESSIONEXPIRED (in
   flight at the expiry) or CONNECTIONLOSS (no session yet); a read fails. */
#define SESS psess[PROC(me)]
#define UP alive[SESS]
#define MYTOK(k) c_tok[RI(me, k)]
#define MYVER(k) c_ver[RI(me, k)]
#define CLEAR_READS r_ok = 0; r_ver = 0; r_mz = 0; r_done = 0; r_cl = 0; r_ctok = 0; r_ex = 0; r_own = 0; r_cz = 0; r_nn = 0

inline rd_state(k) {
  r_ok = UP;
  if :: r_ok -> r_ver = st_ver[k]; r_mz = st_mz[k]; r_done = st_done[k]; r_cl = st_cl[k]; r_ctok = st_ctok[k]
     :: else -> skip fi
}
inline rd_lease(k) {
  r_ok = UP;
  if :: r_ok -> r_ex = ls_ex[k]; r_own = ls_own[k]; r_cz = ls_cz[k]; r_nn = ls_nn[k]
     :: else -> skip fi
}

/* Whether this multi's reply is lost (budget MAXCL). A multi whose reply is
   lost may or may not have been applied. hlost = number of the lost reply. */
inline maybe_lose() {
  if
  :: ncl < MAXCL -> ncl++; hlost = ncl
  :: true -> hlost = 0
  fi
}

/* Claim multi: per wanted shard, setData(state, version read) then
   create(lease, EPHEMERAL). The transaction's zxid is the token of every
   shard it claims (state mzxid == lease czxid). fk: shard of the first
   failing op.
   Nonce: the code gives every claim a unique nonce, and Adopt compares the
   lease's nonce with the nonce of the claim whose reply was lost. Only that
   comparison matters, so a lease records the number of the lost reply of the
   claim that created it (0 if the reply arrived): exact, and few values. A
   claim that never reached the server has a nonce no lease carries. */
inline claim_multi() {
  if
  :: !UP -> if :: rc = SESSEXPIRED :: rc = CONNLOSS; nn = NONCE_NONE fi
  :: else ->
       maybe_lose();
       rc = OK;
       for (hk : 0 .. LAST) {
         if
         :: rc == OK && HAS(want, hk) && st_ver[hk] != rver[hk] -> rc = BADVERSION; fk = hk
         :: rc == OK && HAS(want, hk) && st_ver[hk] == rver[hk] && ls_ex[hk] -> rc = NODEEXISTS; fk = hk
         :: else -> skip
         fi
       };
       hj = (rc == OK);
       if :: hj && hlost -> if :: skip :: hj = 0 fi :: else -> skip fi;  /* lost: applied or not */
       if
       :: hj ->
            CHECK(MODEL_zxid_in_range, zxid < 250); zxid++;
            for (hk : 0 .. LAST) {
              if
              :: HAS(want, hk) ->
                   CHECK(G3b_token_increases, zxid > st_mz[hk]);
                   st_ver[hk]++; st_mz[hk] = zxid; st_cl[hk] = F + 1;
                   ls_ex[hk] = 1; ls_own[hk] = SESS; ls_cz[hk] = zxid; ls_nn[hk] = hlost;
                   if :: !hlost -> MYTOK(hk) = zxid; MYVER(hk) = st_ver[hk]; c_cse[RI(me, hk)] = csess; t_inc[me] = inc
                      :: else -> skip fi;
                   printf("@@ t%d CLAIM applied: shard %d fire %d, state v%d, lease owner s%d token %d (lost reply #%d)\n",
                          me, hk, F, st_ver[hk], SESS, zxid, hlost)
              :: else -> skip
              fi
            }
       :: else -> skip
       fi;
       if :: hlost -> rc = CONNLOSS; nn = hlost :: else -> skip fi
  fi;
  printf("@@ t%d claim multi: fire %d shards %d on s%d -> %e\n", me, F, want, SESS, rc);
  hk = 0; hj = 0; hlost = 0
}

/* Commit multi: per shard of m, setData(state, "F committed by token T",
   version of the claim) then delete(lease, any version). */
inline commit_multi(m) {
  if
  :: !UP -> if :: rc = SESSEXPIRED :: rc = CONNLOSS fi
  :: else ->
       maybe_lose();
       rc = OK;
       for (hk : 0 .. LAST) {
         if
         :: rc == OK && HAS(m, hk) && st_ver[hk] != MYVER(hk) -> rc = BADVERSION
         :: rc == OK && HAS(m, hk) && st_ver[hk] == MYVER(hk) && !ls_ex[hk] && !BROKEN_NO_LEASE_DELETE -> rc = NONODE
         :: else -> skip
         fi
       };
       hj = (rc == OK);
       if :: hj && hlost -> if :: skip :: hj = 0 fi :: else -> skip fi;
       if
       :: hj ->
            CHECK(MODEL_zxid_in_range, zxid < 250); zxid++;
            for (hk : 0 .. LAST) {
              if
              :: HAS(m, hk) ->
                   printf("@@ t%d COMMIT applied: shard %d fire %d token %d guard v%d (lost reply #%d); lease exists %d, token %d\n",
                          me, hk, F, MYTOK(hk), MYVER(hk), hlost, ls_ex[hk], ls_cz[hk]);
                   /* G3c: a commit is applied only for the claim whose lease is still there */
                   CHECK(G3c_commit_from_lease_holder, ls_ex[hk] && ls_cz[hk] == MYTOK(hk));
                   /* G2: the committed fire is above the watermark, which
                      never goes down; so no task is committed twice */
                   CHECK(G2_one_commit_per_task, F >= st_done[hk]);
                   st_ver[hk]++; st_mz[hk] = zxid; st_done[hk] = F + 1; st_cl[hk] = 0;
                   st_ctok[hk] = MYTOK(hk);
                   ls_ex[hk] = 0;
#if PROP_REPORT
                   committed_by[TASK(hk, F)] = MYTOK(hk);
#endif
                   skip
              :: else -> skip
              fi
            }
       :: else -> skip
       fi;
       if :: hlost -> rc = CONNLOSS :: else -> skip fi
  fi;
  printf("@@ t%d commit multi: fire %d shards %d on s%d -> %e\n", me, F, m, SESS, rc);
  hk = 0; hj = 0; hlost = 0
}

/* Checkpoint (CKPT; the code has none): multi{ setData(state, carried
   version), check(lease, any version) }; the new version is carried into the
   runner's next guarded write. While the state has the version this runner
   wrote last, no claim came in between; so a lease that exists is this
   runner's. Replies of checkpoints are never lost in the model. */
inline checkpoint(k) {
  if
  :: !UP -> rc = SESSEXPIRED
  :: UP && st_ver[k] != MYVER(k) -> rc = BADVERSION
  :: UP && st_ver[k] == MYVER(k) && !ls_ex[k] && !BROKEN_CKPT_NO_LEASE_CHECK -> rc = NONODE
  :: else ->
       printf("@@ t%d CHECKPOINT applied: shard %d token %d guard v%d; lease exists %d, token %d\n",
              me, k, MYTOK(k), MYVER(k), ls_ex[k], ls_cz[k]);
       CHECK(G3c_checkpoint_from_lease_holder, ls_ex[k] && ls_cz[k] == MYTOK(k));
       CHECK(MODEL_zxid_in_range, zxid < 250); zxid++; st_ver[k]++; st_mz[k] = zxid; MYVER(k) = st_ver[k]; rc = OK
  fi;
  printf("@@ t%d checkpoint: shard %d fire %d on s%d -> %e\n", me, k, F, SESS, rc)
}

/* ShardLedger::Release: multi{ check(state, version of the claim), delete(lease) }. */
inline release_multi(k) {
  if
  :: !UP -> rc = SESSEXPIRED
  :: UP && st_ver[k] != MYVER(k) -> rc = BADVERSION
  :: UP && st_ver[k] == MYVER(k) && !ls_ex[k] -> rc = NONODE
  :: else ->
       CHECK(G3c_release_of_own_lease, ls_cz[k] == MYTOK(k));
       ls_ex[k] = 0; rc = OK
  fi;
  printf("@@ t%d release: shard %d fire %d -> %e\n", me, k, F, rc)
}

/* ReleaseOwnStaleLease's delete, as built: multi{ check(state, l_ver),
   delete(lease) }, where l_ver is the state version read before the lease.
   Every claim moves the version on and every lease is created by a claim, so
   while the check holds no lease has been created since the lease read: a
   lease still there is the one read, of this process's session. The multi
   goes on whatever session the client has by then; a multi on a dead session
   is not applied (CONNECTIONLOSS or SESSIONEXPIRED). */
inline stale_multi(k) {
  if
  :: !UP -> if :: rc = SESSEXPIRED :: rc = CONNLOSS fi
  :: UP && st_ver[k] != l_ver -> rc = BADVERSION
  :: UP && st_ver[k] == l_ver && !ls_ex[k] -> rc = NONODE
  :: UP && st_ver[k] == l_ver && ls_ex[k] ->
       printf("@@ t%d deletes the lease of shard %d as its own stale one: owner s%d token %d; sent on s%d\n",
              me, k, ls_own[k], ls_cz[k], SESS);
       CHECK(STALE_delete_hits_no_held_claim, !PROP_STALE || !HELD(k));
       ls_ex[k] = 0; rc = OK
  fi
}
/* BROKEN_STALE_DELETE (the code before the fix): delete(lease, version
   read). A lease is never written, so its version is 0 whoever created it:
   the delete removes whatever lease is there, on whatever session the client
   has by then. */
inline delete_lease(k) {
  if
  :: !UP -> rc = CONNLOSS
  :: UP && ls_ex[k] ->
       printf("@@ t%d deletes the lease of shard %d as its own stale one: owner s%d token %d; sent on s%d\n",
              me, k, ls_own[k], ls_cz[k], SESS);
       CHECK(STALE_delete_hits_no_held_claim, !PROP_STALE || !HELD(k));
       ls_ex[k] = 0; rc = OK
  :: UP && !ls_ex[k] -> rc = NONODE
  fi
}

/* What the runner is told. PROP_REPORT=1 checks every report; 2 only those
   Commit's entry makes (the _E forms). */
#define CHECK_COMMITTED(k) CHECK(REPORT_committed_is_true, committed_by[TASK(k, F)] == MYTOK(k))
#if FIX_REPORT
/* the proposal: a refusal after a send whose outcome was unknown (unk) may
   be that send's own doing, so it is reported "unknown" (and not retried) */
#define CHECK_FENCED(k) \
  if \
  :: HAS(unk, k) -> printf("@@ t%d commit of shard %d fire %d: reported UNKNOWN, not fenced (FIX_REPORT)\n", me, k, F) \
  :: else -> CHECK(REPORT_fenced_is_true, committed_by[TASK(k, F)] != MYTOK(k)) \
  fi
#else
#define CHECK_FENCED(k) CHECK(REPORT_fenced_is_true, committed_by[TASK(k, F)] != MYTOK(k))
#endif
#if PROP_REPORT == 1
#define REPORT_COMMITTED(k) CHECK_COMMITTED(k)
#define REPORT_FENCED(k) CHECK_FENCED(k)
#else
#define REPORT_COMMITTED(k) skip
#define REPORT_FENCED(k) skip
#endif
#if PROP_REPORT
#define REPORT_COMMITTED_E(k) CHECK_COMMITTED(k)
#define REPORT_FENCED_E(k) CHECK_FENCED(k)
#else
#define REPORT_COMMITTED_E(k) skip
#define REPORT_FENCED_E(k) skip
#endif

/* the first shard >= k in mask m, or NS */
#define NEXT(m) do :: k < NS && !HAS(m, k) -> k++ :: else -> break od

/* ---- the tasks of the claimed shards start (inside the step that got the
   claims). G3a, G4: when a live runner starts shard k, no other live runner
   executes shard k: for this fire (G3a) or for another fire (G4). ---- */
inline start_run() {
  t_F[me] = F; csess = 0;
  for (k : 0 .. LAST) {
    if
    :: HAS(got, k) ->
         g_run[RI(me, k)] = 1;
         printf("@@ t%d RUNS shard %d fire %d, token %d, claim session s%d\n", me, k, F, MYTOK(k), c_cse[RI(me, k)]);
         for (hj : 0 .. NT - 1) {
           if
           :: hj != me && LIVE2(me, hj, k) ->
                CHECK(G3a_one_live_runner, t_F[hj] != F);
                CHECK(G4_no_overlapping_fires, t_F[hj] == F)
           :: else -> skip
           fi
         }
    :: else -> skip
    fi
  };
  k = 0; hj = 0; ck = CKPT;
  goto RUNNING
}

/* SessionId(), read right before each attempt's multi (in the step before
   the attempt, so that the session may change in between). The claim
   records it; CLAIMED compares it with SessionId() after the reply.
   BROKEN_CLAIM_SESSION: it is read once, when ClaimFire starts. */
#if BROKEN_CLAIM_SESSION
#define READ_SESSION skip
#else
#define READ_SESSION csess = SESS
#endif

/* ---- ShardLedger::ClaimFire, one attempt, as one step. The code reads the
   states it has not cached, leaves out a fire at or below the watermark
   (never claimed again) and, for a failover, a shard whose state no longer
   shows that fire open, then sends the claim multi. The model reads and
   sends in the same step. That hides nothing the properties can see: the
   multi is guarded by every version read, so with reads any older it would
   apply only if they were all still current, i.e. exactly as here; what is
   lost are attempts that fail on BADVERSION and change nothing but the
   attempt count. ---- */
inline claim_attempt() {
  for (k : 0 .. LAST) {
    if
    :: HAS(want, k) && UP && F >= st_done[k] && (!fo || st_cl[k] == F + 1) -> rver[k] = st_ver[k]
    :: else -> want = want & ~BIT(k); rver[k] = 0
    fi
  };
  k = 0;
  if :: want == 0 || att > 2 * NS + 1 -> csess = 0; goto FINISH :: else -> skip fi;
  claim_multi();
  rver[0] = 0; rver[LAST] = 0;
  if
#if BROKEN_CLAIM_SESSION
  :: rc == OK -> got = want; rc = OK; start_run()
#else
  :: rc == OK -> rc = OK; goto CLAIMED
#endif
  :: rc == CONNLOSS -> rc = OK; goto ADOPT
  :: rc == BADVERSION -> att++; rc = OK; READ_SESSION; goto ATTEMPT
  :: rc == NODEEXISTS -> rc = OK; goto STALE
  :: rc == SESSEXPIRED ->
       /* every op result carries the error: the first shard is taken as the
          failed one and left out */
       NEXT(want); want = want & ~BIT(k); k = 0; att++; rc = OK; READ_SESSION; goto ATTEMPT
  fi
}

/* FIX_REPORT: remember the shards m had a commit send of unknown outcome */
#if FIX_REPORT
#define NOTE_UNKNOWN(c, m) if :: c -> unk = unk | (m) :: else -> skip fi
#else
#define NOTE_UNKNOWN(c, m) skip
#endif

/* ---- ShardLedger::Commit, the batch: one multi for every outcome still to
   send. ---- */
inline commit_batch() {
  commit_multi(outc);
  if
  :: rc == OK ->
       if :: HAS(outc, 0) -> REPORT_COMMITTED(0) :: else -> skip fi;
       if :: NS > 1 && HAS(outc, LAST) -> REPORT_COMMITTED(LAST) :: else -> skip fi;
       rc = OK; goto RELEASE_
  :: else -> bu = (rc == CONNLOSS || rc == SESSEXPIRED); NOTE_UNKNOWN(bu, outc); rc = OK; k = 0; goto ITEMS
  fi
}

proctype Inst(byte me) {
  byte myF;                 /* this instance's next scheduled fire */
  byte F, k, want, got, fk, att, nn, outc, rel, unres;
  byte csess;               /* ClaimFire: the session the claim records (READ_SESSION) */
  byte mytx;                /* CLAIMED: the zxid of this claim, whose reply came */
  byte esess;               /* Commit: SessionId() at its start */
  byte unk;                 /* FIX_REPORT: shards with a commit send of unknown outcome */
  bool fo, bu, ck;
  byte rver[NS];            /* the state versions the claim is guarded by */
  mtype rc;
  byte l_own, l_cz, l_nn;   /* a lease read kept for the next step (ADOPT) */
  byte l_ver;               /* a state version read kept for the next steps (STALE) */

#define RESET_LOCALS \
  F = 0; want = 0; got = 0; fk = 0; att = 0; nn = 0; outc = 0; rel = 0; unres = 0; \
  fo = 0; bu = 0; ck = 0; k = 0; rc = OK; mytx = 0; esess = 0; unk = 0; \
  l_own = 0; l_cz = 0; l_nn = 0; l_ver = 0; \
  t_F[me] = 0; t_inc[me] = 0; \
  for (hk : 0 .. LAST) { c_tok[RI(me, hk)] = 0; c_ver[RI(me, hk)] = 0; c_cse[RI(me, hk)] = 0 }; \
  hk = 0; csess = SESS     /* SessionId() when ClaimFire starts */

  {
    skip;
IDLE:
    atomic {
      if
      /* the next scheduled fire: claim this instance's shards for it. A fire
         that comes while a shard's previous fire still runs here is skipped
         or waits (overlap policy): either way an instance runs one fire of a
         shard at a time, in order. */
      :: myF < NF ->
           RESET_LOCALS; F = myF; myF++;
#if ASSIGN
           if :: want = 1 :: NS > 1 -> want = 2 :: NS > 1 -> want = 3 fi
#else
           want = BIT(NS) - 1
#endif
#if FAILOVER
      /* FindOrphans, then a failover fire for the orphans of one fire. The
         model may take any shard whose state shows an open claim, lease or
         not: more than the code (it also reads the lease), and the claim
         re-checks everything. */
      :: (!LIVENESS || myF == NF) && UP && st_cl[0] != 0 ->
           RESET_LOCALS; fo = 1; F = st_cl[0] - 1; want = 1;
           if :: NS > 1 && st_cl[LAST] == st_cl[0] -> want = 3 :: true -> skip fi
      :: (!LIVENESS || myF == NF) && UP && NS > 1 && st_cl[LAST] != 0 ->
           RESET_LOCALS; fo = 1; F = st_cl[LAST] - 1; want = 2
#endif
      /* Safety checks: a thread out of fires may stop. For G1 it never stops
         (instances run on): with nothing to do it waits here. */
      :: !LIVENESS && myF == NF -> goto FIN
      fi;
      goto ATTEMPT
    };

/* ---------------- ShardLedger::ClaimFire: the next attempt ---------------- */
ATTEMPT:
    atomic { claim_attempt() };

#if !BROKEN_CLAIM_SESSION
/* The multi returned OK. If SessionId() is not the one read right before it,
   the outcome counts as unknown (AdoptAfterUnknownOutcome), as after a lost
   reply. The reply came, so this claim's transaction is known: its lease is
   the one created by zxid mytx (what the nonce comparison finds). */
CLAIMED:
    atomic {
      if
      :: SESS != csess ->
           printf("@@ t%d claim reply OK, but the session is s%d now, not s%d: outcome unknown\n", me, SESS, csess);
           k = 0; NEXT(want); mytx = MYTOK(k); k = 0;
           for (hk : 0 .. LAST) { c_tok[RI(me, hk)] = 0; c_ver[RI(me, hk)] = 0; c_cse[RI(me, hk)] = 0 };
           hk = 0; csess = 0; nn = 0;
           goto ADOPT
      :: else -> got = want; start_run()
      fi
    };
#endif

/* ReleaseOwnStaleLease, after NODEEXISTS. As built: read the state, then the
   lease; a lease of this session (ephemeralOwner compared with SessionId()
   right after the read) is taken for a leftover and deleted with
   multi{ check(state, version read), delete(lease) }, and the claim is tried
   again. Anything else (someone else's lease, no lease any more, no answer, a
   refused multi): the shard is left out.
   BROKEN_STALE_DELETE: no state read; delete(lease, version read), which
   guards nothing (a lease is never written, so its version is always 0). */
/* ReleaseOwnStaleLease's answer: true (the claim is tried again) on OK or
   NONODE; false (the shard is left out) otherwise. */
#define STALE_ANSWER \
      if :: rc == OK || rc == NONODE -> skip :: else -> want = want & ~BIT(fk) fi; \
      att++; fk = 0; rc = OK; l_ver = 0; \
      READ_SESSION; goto ATTEMPT
STALE:
#if BROKEN_STALE_DELETE
    atomic {
      rd_lease(fk);
      if
      :: r_ok && r_ex && r_own == SESS -> CLEAR_READS; goto ST_DELETE
      :: else -> want = want & ~BIT(fk)
      fi;
      CLEAR_READS; att++; fk = 0; READ_SESSION; goto ATTEMPT
    };
ST_DELETE:
    atomic { delete_lease(fk); STALE_ANSWER };
#else
    atomic {
      rd_state(fk);
      if
      :: r_ok -> l_ver = r_ver; CLEAR_READS; goto ST_LEASE
      :: else -> want = want & ~BIT(fk)
      fi;
      CLEAR_READS; att++; fk = 0; READ_SESSION; goto ATTEMPT
    };
ST_LEASE:
    atomic {
      rd_lease(fk);
      if
      :: r_ok && r_ex && r_own == SESS -> CLEAR_READS; goto ST_DELETE
      :: else -> want = want & ~BIT(fk)
      fi;
      CLEAR_READS; att++; fk = 0; l_ver = 0; READ_SESSION; goto ATTEMPT
    };
ST_DELETE:
    atomic { stale_multi(fk); STALE_ANSWER };
#endif

/* Unknown outcome (AdoptAfterUnknownOutcome): read the lease, then the
   state. The shard is ours iff the lease carries this claim's nonce and the
   state was written by the same transaction (mzxid == czxid); then token =
   czxid, the commit guard is that state's version, and the claim's session
   is the lease's owner. After a lost reply the nonce is the number of that
   lost reply (nn); after CLAIMED, it is the lease of transaction mytx. */
ADOPT:
    atomic {
      csess = 0;
      NEXT(want);
      if
      :: k == NS -> k = 0; nn = 0; mytx = 0; if :: got == 0 -> goto FINISH :: else -> start_run() fi
      :: else -> skip
      fi;
      rd_lease(k);
      if
      /* a lease read now was created in the incarnation of now: re-creation deletes them all */
      :: r_ok && r_ex -> l_own = r_own; l_cz = r_cz; l_nn = r_nn; t_inc[me] = inc; CLEAR_READS; goto ADOPT_STATE
      :: else -> k++
      fi;
      CLEAR_READS;
      goto ADOPT
    };
ADOPT_STATE:
    atomic {
      rd_state(k);
      if
      :: r_ok && (mytx != 0 -> l_cz == mytx : l_nn == nn) && r_mz == l_cz ->
           got = got | BIT(k); MYTOK(k) = l_cz; MYVER(k) = r_ver; c_cse[RI(me, k)] = l_own;
           printf("@@ t%d adopts shard %d: token %d, guard v%d\n", me, k, l_cz, r_ver)
      :: else -> skip
      fi;
      CLEAR_READS; l_own = 0; l_cz = 0; l_nn = 0; k++;
      goto ADOPT
    };

/* ---------------- the tasks run ---------------- */
RUNNING:
    if
    /* a checkpoint of a running shard, at most one per fire */
    :: atomic { ck && HAS(got, 0) -> ck = 0; checkpoint(0); rc = OK }; goto RUNNING
    :: atomic { ck && NS > 1 && HAS(got, LAST) -> ck = 0; checkpoint(LAST); rc = OK }; goto RUNNING
    /* The tasks end. (The model's tasks run until the commit step starts:
       only stricter for G3a/G4.) A task may have stopped on its cancellation
       flag (claims lost: session expired, or no contact for the session
       timeout; or shutdown): it is released, not committed. */
    :: atomic {
         ck = 0; outc = got;
         for (k : 0 .. LAST) {
           g_run[RI(me, k)] = 0;
           if
           :: nrel < MAXREL && HAS(got, k) -> nrel++; outc = outc & ~BIT(k); rel = rel | BIT(k)
           :: true -> skip
           fi
         };
         k = 0; esess = SESS;
         goto COMMIT
       }
    fi;

/* ---------------- ShardLedger::Commit ----------------
   esess is SessionId() as Commit starts (set by the step that calls it). Per
   outcome, in order:
   - claim made on another session than esess: refused (fenced) without a
     request, so a commit never goes out on a new session from here; but if
     its earlier commit was unknown (unres), the state is read first, and if
     it shows that very commit (committed_fire == F, committed_token == its
     token) it counts as committed (CommittedAfterUnknownOutcome).
     BROKEN_ENTRY_NO_RESOLVE: refused without that read (the code before).
   - same session, earlier commit unknown (ResolveUnknownLocked): the state
     is read; committed as above, or else sent again with the same guard.
   Then one batch multi for every outcome still to send. Each step makes at
   most one call: it takes the decisions that need none, up to the next
   outcome that needs a read, and makes that read. */
#define REFUSE_AT_ENTRY(k) \
  printf("@@ t%d commit of shard %d fire %d refused: claim session s%d, Commit started on s%d\n", me, k, F, c_cse[RI(me, k)], esess); \
  CHECK(ENTRY_refuses_only_lost_claims, !PROP_ENTRY || !(ls_ex[k] && ls_cz[k] == MYTOK(k))); \
  REPORT_FENCED_E(k); outc = outc & ~BIT(k)
COMMIT:
    atomic {
      do
      :: k < NS && !HAS(outc, k) -> k++
      :: k < NS && HAS(outc, k) && c_cse[RI(me, k)] != esess && (!HAS(unres, k) || BROKEN_ENTRY_NO_RESOLVE) ->
           REFUSE_AT_ENTRY(k); unres = unres & ~BIT(k); k++
      :: k < NS && HAS(outc, k) && c_cse[RI(me, k)] == esess && !HAS(unres, k) -> k++
      :: else -> break
      od;
      if
      :: k == NS ->
           k = 0; esess = 0;
           if :: outc == 0 -> goto RELEASE_ :: else -> skip fi;
           commit_batch()
      :: else -> skip
      fi;
      /* outcome k's earlier commit was unknown: read its state */
      rd_state(k);
      if
      :: r_ok && r_done == F + 1 && r_ctok == MYTOK(k) ->
           printf("@@ t%d commit of shard %d fire %d: the unknown commit had landed\n", me, k, F);
           REPORT_COMMITTED_E(k); outc = outc & ~BIT(k)
      :: else ->
           if
           :: c_cse[RI(me, k)] != esess -> REFUSE_AT_ENTRY(k)
           :: else -> skip     /* sent again, same guard */
           fi
      fi;
      unres = unres & ~BIT(k); CLEAR_READS; k++;
      goto COMMIT
    };
/* The batch failed. If its outcome is unknown, a task whose state shows this
   very commit (committed_fire == F, committed_token == its token) is done;
   every other task is committed alone, on the session the client has now,
   so that one lost claim does not sink the others. */
ITEMS:
    atomic {
      NEXT(outc);
      if :: k == NS -> k = 0; goto RELEASE_ :: else -> skip fi;
      if
      :: bu ->
           rd_state(k);
           if
           :: r_ok && r_done == F + 1 && r_ctok == MYTOK(k) -> REPORT_COMMITTED(k); k++; CLEAR_READS; goto ITEMS
           :: else -> skip
           fi;
#if BROKEN_RESEND_ON_NEW_SESSION
           /* broken: the resend is guarded by the version just re-read */
           if :: r_ok -> MYVER(k) = r_ver :: else -> skip fi;
#endif
           CLEAR_READS
      :: else -> skip
      fi
    };
    atomic {
      commit_multi(BIT(k));
      if
      :: rc == OK -> REPORT_COMMITTED(k); rc = OK; k++; goto ITEMS
      :: rc == CONNLOSS || rc == SESSEXPIRED -> NOTE_UNKNOWN(1, BIT(k))
      :: else -> REPORT_FENCED(k); rc = OK; k++; goto ITEMS
      fi
    };
    atomic {
      rd_state(k);
      if
      :: r_ok && r_done == F + 1 && r_ctok == MYTOK(k) -> REPORT_COMMITTED(k)
      :: else ->
           if
           :: rc == CONNLOSS -> unres = unres | BIT(k);   /* reported unknown */
                printf("@@ t%d commit of shard %d fire %d: outcome UNKNOWN\n", me, k, F)
           :: else -> REPORT_FENCED(k)
           fi
      fi;
      CLEAR_READS; rc = OK; k++;
      goto ITEMS
    };

/* ---------------- ShardLedger::Release ---------------- */
RELEASE_:
    atomic {
      NEXT(rel);
      if
      :: k == NS ->
           k = 0;
           /* Outcomes with an unknown commit are parked (ParkUnknownLocked)
              and committed again, same guard, by a timer (ResolveUnknown),
              any number of times. Or the shard's next fire here takes the
              outcome over and commits it (CommitHandedOver), and an unknown
              outcome there is dropped: the commit is given up. That can
              happen at the commit's first send too, since a finished task's
              outcome is handed over to the shard's next fire if that fire
              starts before the rest of the run has finished. */
           if
           :: unres == 0 -> goto FINISH
           :: unres != 0 -> outc = unres; esess = SESS; goto COMMIT
           :: unres != 0 ->
                printf("@@ t%d gives up the commit of shards %d fire %d (unknown on the hand-over path)\n", me, unres, F);
                unres = 0; goto FINISH
           fi
      :: else -> skip
      fi;
      release_multi(k); rc = OK; rel = rel & ~BIT(k); k++;
      goto RELEASE_
    };
FINISH:
    goto IDLE;
FIN:
    fin[me] = 1
  } unless { crashed[PROC(me)] }
}

/* ---------------- faults, the server and the client library ---------------- */
inline expire(p) {
  printf("@@ session s%d of process %d EXPIRED\n", psess[p], p);
  alive[psess[p]] = 0;
  for (hk : 0 .. LAST) {
    if :: ls_ex[hk] && ls_own[hk] == psess[p] -> ls_ex[hk] = 0 :: else -> skip fi
  };
  hk = 0
}

#define PROCESS_EVENTS(p) \
  /* kill -9; the server expires the session later */ \
  :: atomic { ncrash < MAXCRASH && !crashed[p] && !PDONE(p) -> crashed[p] = 1; ncrash++; printf("@@ process %d CRASHED\n", p) } \
  :: atomic { crashed[p] && alive[psess[p]] -> expire(p) } \
  /* a live process paused or cut off past the session timeout: a zombie */ \
  :: atomic { nexp < MAXEXP && !crashed[p] && !PDONE(p) && alive[psess[p]] -> expire(p); nexp++ } \
  /* its client opens a new session */ \
  :: atomic { !crashed[p] && !alive[psess[p]] && nsess < MAXSESS -> \
              psess[p] = nsess; alive[nsess] = 1; nsess++; printf("@@ process %d opens session s%d\n", p, psess[p]) }

proctype Env() {
end:
  do
  PROCESS_EVENTS(0)
#if NP > 1
  PROCESS_EVENTS(1)
#endif
#if NP > 2
  PROCESS_EVENTS(2)
#endif
#if RECREATE
  /* The job is deleted and re-created. The code never deletes a state znode
     (CreateStates and ReadState only create missing ones), so what goes is
     the leases: every runner of the old incarnation loses its claim while it
     runs. The states keep version, watermark and mzxid. */
  :: atomic { inc == 0 ->
       inc = 1;
       printf("@@ the job is DELETED and RE-CREATED\n");
       for (hk : 0 .. LAST) {
         ls_ex[hk] = 0;
#if BROKEN_RECREATE_RESETS_STATE
         /* broken: the state znode is deleted and created again as "{}" */
         CHECK(MODEL_zxid_in_range, zxid < 250); zxid++; st_ver[hk] = 0; st_mz[hk] = zxid; st_done[hk] = 0; st_cl[hk] = 0; st_ctok[hk] = 0;
#endif
         skip
       };
       hk = 0 }
#endif
  od
}

init {
  atomic {
    byte i;
    for (i : 0 .. NP - 1) { psess[i] = i + 1; alive[i + 1] = 1 };
    run Env();    /* only now: its guards read the sessions set up above */
    for (i : 0 .. NT - 1) { run Inst(i) };
    i = 0
  }
}

/* G1 (LIVENESS=1, weak fairness): from some point on, no shard has an open
   claim or a lease, for ever: every claim made is committed (by its runner
   or after a failover) or superseded by a later committed fire; nothing is
   stuck. */
#if LIVENESS
ltl g1 { <> [] SETTLED }
#endif
