/**
 * When the cleaning loop runs the teacher's batch, and on how many onnxruntime threads.
 *
 * 'overlap': the teacher (in its worker thread) computes the next batch while the student steps; free when the
 * machine has a core for it, a loss when it has not: on 2 vCPUs with a 2-thread student, the three threads
 * time-share and the student's parallel regions wait for the descheduled one (measured: 0.162-0.166 s per width-8
 * MIMIC step overlapped vs 0.148-0.157 s inline with the teacher on 2 threads, bench/RESULTS.md).
 * 'inline': the teacher runs alone before the student's step, on as many threads as the student.
 * 'auto' (default): overlap when the student's threads plus the teacher's fit the cores, or when the teacher runs
 * on a GPU; inline otherwise.
 */
export type TeacherSchedule = 'auto' | 'overlap' | 'inline';

export const TEACHER_SCHEDULES: readonly TeacherSchedule[] = ['auto', 'overlap', 'inline'];

export interface TeacherPlan {
  overlap: boolean;
  /** onnxruntime intra-op threads for the teacher. */
  threads: number;
}

/**
 * @param studentThreads the engine threads the student steps on (resolved: >= 1)
 * @param teacherThreads the caller's explicit onnxruntime threads, if any (kept as given)
 * @param cores the cores this process may use (os.availableParallelism())
 * @param gpu the teacher runs on a GPU (it then takes no CPU core from the student)
 */
export function planTeacher(schedule: TeacherSchedule, studentThreads: number, teacherThreads: number | undefined, cores: number, gpu = false): TeacherPlan {
  const overlapThreads = teacherThreads ?? 1;
  const overlap = schedule === 'overlap' || (schedule === 'auto' && (gpu || studentThreads + overlapThreads <= cores));
  return overlap ? { overlap, threads: overlapThreads } : { overlap, threads: teacherThreads ?? studentThreads };
}
