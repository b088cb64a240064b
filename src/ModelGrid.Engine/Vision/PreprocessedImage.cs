namespace ModelGrid.Engine.Vision;

/// <summary>
/// An image fitted to the patch grid: <see cref="Canvas"/> is the u8 image after resize and padding, and
/// <see cref="Pixels"/> the normalized values the tower reads, planar [3][Height][Width].
/// </summary>
public sealed class PreprocessedImage(int sourceWidth, int sourceHeight, RgbImage canvas, float[] pixels, int patchSize, int mergeSize)
{
    /// <summary>Size of the decoded file.</summary>
    public int SourceWidth => sourceWidth;
    public int SourceHeight => sourceHeight;

    public RgbImage Canvas => canvas;
    public float[] Pixels => pixels;
    public int Width => canvas.Width;
    public int Height => canvas.Height;

    public int PatchSize => patchSize;
    public int MergeSize => mergeSize;
    public int PatchColumns => Width / patchSize;
    public int PatchRows => Height / patchSize;
    public int PatchCount => PatchColumns * PatchRows;

    /// <summary>The grid of merged tokens: what the text model sees.</summary>
    public int GridWidth => PatchColumns / mergeSize;
    public int GridHeight => PatchRows / mergeSize;
    public int TokenCount => GridWidth * GridHeight;
}
