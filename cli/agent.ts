export async function agent(_argv: string[]): Promise<number> {
  throw new Error('agent: being written');
}
