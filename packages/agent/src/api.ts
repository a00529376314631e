/**
 * The agent's calls to Gyre's API. Every endpoint is idempotent, so network errors and 5xx
 * answers are retried with backoff; a 409 means the allocation is no longer ours.
 */
export class AllocationLost extends Error {
  override readonly name = "AllocationLost";
}

export class GyreApi {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async post<T>(path: string, body: unknown, attempts = 5): Promise<T> {
    let delay = 100;
    for (let attempt = 1; ; attempt++) {
      let response: Response | undefined;
      try {
        response = await fetch(`${this.baseUrl}/agent/v1${path}`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${this.token}` },
          body: JSON.stringify(body),
        });
      } catch (error) {
        if (attempt >= attempts) throw error;
      }
      if (response) {
        if (response.ok) return (await response.json()) as T;
        const text = await response.text();
        if (response.status === 409) throw new AllocationLost(text);
        if (response.status < 500 || attempt >= attempts)
          throw new Error(`POST ${path}: ${response.status} ${text}`);
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }
}
